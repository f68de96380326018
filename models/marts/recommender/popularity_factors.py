from cinemart.warehouse import tables


def model(dbt, session):
    return tables.popularity_factors(dbt.ref("int_ratings_split"), dbt.config.get("model_settings"))
