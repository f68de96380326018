from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_similar_movies(dbt.ref("ranking_evaluation"), dbt.ref("implicit_factors"),
        dbt.ref("als_factors"), dbt.config.get("model_settings"))
