from cinemart.engine import tables_for


def model(dbt, session):
    return tables_for(session).int_user_recommendations(dbt.ref("int_ratings_split"), dbt.ref("ranking_evaluation"),
        dbt.ref("implicit_factors"), dbt.ref("als_factors"), dbt.ref("popularity_factors"), dbt.ref("ease_factors"),
        dbt.ref("blend_factors"), dbt.ref("int_popular_movies"), dbt.config.get("model_settings"))
