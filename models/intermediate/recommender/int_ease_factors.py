from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_ease_factors(dbt.ref("int_ratings_split"), dbt.ref("ease_grid_search"),
        dbt.config.get("model_settings"))
