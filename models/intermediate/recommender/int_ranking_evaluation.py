from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_ranking_evaluation(dbt.ref("int_ratings_split"), dbt.ref("implicit_grid_search"),
        dbt.ref("ease_grid_search"), dbt.ref("als_grid_search"), dbt.ref("int_als_factors"),
        dbt.ref("int_movie_content_vectors"), dbt.config.get("model_settings"))
