from cinemart.warehouse import tables


def model(dbt, session):
    return tables.als_predictions(dbt.ref("int_ratings_split"), dbt.ref("int_als_factors"),
                                  dbt.config.get("model_settings"))
