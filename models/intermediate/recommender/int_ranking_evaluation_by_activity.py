from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_ranking_evaluation_by_activity(dbt.ref("int_ratings_split"),
        dbt.ref("ranking_evaluation"), dbt.ref("implicit_grid_search"), dbt.ref("ease_grid_search"),
        dbt.ref("int_als_factors"), dbt.ref("int_popular_movies"), dbt.config.get("model_settings"))
