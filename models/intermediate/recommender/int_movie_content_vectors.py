from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_movie_content_vectors(dbt.ref("stg_movielens__movies"),
                                                         dbt.ref("stg_movielens__tags"),
                                                         dbt.config.get("model_settings"))
