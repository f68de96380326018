from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).als_predictions(dbt.ref("int_ratings_split"), dbt.ref("int_als_factors"),
        dbt.ref("als_grid_search"), dbt.config.get("model_settings"))
