from cinemart.warehouse import tables


def model(dbt, session):
    return tables.implicit_factors(dbt.ref("int_ratings_split"), dbt.ref("implicit_grid_search"),
                                   dbt.config.get("model_settings"))
