from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_similar_movies(dbt.ref("int_movie_similarity_vectors"),
                                                  dbt.config.get("model_settings"))
