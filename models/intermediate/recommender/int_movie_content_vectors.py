from cinemart.engine import tables_for


def model(dbt, session):
    # Not read: it orders this model after the ratings load, whose DuckDB memory share assumes
    # that no model-plugin array exists yet (macros/memory_limits.sql).
    dbt.ref("int_ratings_split")
    return tables_for(session).int_movie_content_vectors(dbt.ref("stg_movielens__movies"),
                                                         dbt.ref("stg_movielens__tags"),
                                                         dbt.config.get("model_settings"))
