from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_blend_factors(dbt.ref("int_ratings_split"), dbt.ref("ranking_evaluation"),
        dbt.ref("implicit_factors"), dbt.ref("ease_factors"), dbt.config.get("model_settings"))
