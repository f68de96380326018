from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_movie_similarity_vectors(dbt.ref("ranking_evaluation"),
        dbt.ref("implicit_factors"), dbt.ref("als_factors"), dbt.ref("int_movie_content_vectors"),
        dbt.config.get("model_settings"))
