from cinemart.warehouse import tables


def model(dbt, session):
    return tables.serving_settings(dbt.ref("ranking_evaluation"), dbt.ref("implicit_factors"), dbt.ref("als_factors"),
                                   dbt.ref("popularity_factors"), dbt.config.get("model_settings"))
