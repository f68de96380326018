from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).serving_settings(dbt.ref("ranking_evaluation"), dbt.ref("implicit_factors"),
        dbt.ref("als_factors"), dbt.ref("popularity_factors"), dbt.ref("ease_factors"), dbt.ref("blend_factors"),
        dbt.config.get("model_settings"))
