from cinemart.warehouse import tables


def model(dbt, session):
    return tables.int_als_factors(dbt.ref("int_ratings_split"), dbt.ref("als_grid_search"),
                                  dbt.config.get("model_settings"))
