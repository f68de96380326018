from cinemart.warehouse import tables


def model(dbt, session):
    return tables.als_grid_search(dbt.ref("int_ratings_split"), dbt.config.get("model_settings"))
