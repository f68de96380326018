from cinemart.warehouse import tables


def model(dbt, session):
    return tables.int_similar_movies(dbt.ref("ranking_evaluation"), dbt.ref("implicit_factors"), dbt.ref("als_factors"),
                                     dbt.config.get("model_settings"))
