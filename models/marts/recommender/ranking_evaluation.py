from cinemart.warehouse import tables


def model(dbt, session):
    return tables.ranking_evaluation(dbt.ref("int_ratings_split"), dbt.ref("implicit_grid_search"),
                                     dbt.ref("als_grid_search"), dbt.ref("int_als_factors"),
                                     dbt.config.get("model_settings"))
