from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).ease_grid_search(dbt.ref("int_ratings_split"), dbt.config.get("model_settings"))
