from cinemart.ranking_training import RankingSettings, ServedFactors, flagged_model, similar_movies_table


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    taste = flagged_model(dbt.ref("ranking_evaluation").project("model, serves_similarity").fetchnumpy(),
                          "serves_similarity")
    factor_tables = {"implicit_als": dbt.ref("implicit_factors"), "explicit_als": dbt.ref("als_factors")}
    return similar_movies_table(ServedFactors.from_table(taste, factor_tables[taste].to_arrow_table()), settings)
