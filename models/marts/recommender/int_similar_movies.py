from cinemart.ranking_training import RankingSettings, ServedFactors, served_model_name, similar_movies_table


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    name = served_model_name(dbt.ref("ranking_evaluation").project("model, is_served").fetchnumpy())
    factor_tables = {"implicit_als": dbt.ref("implicit_factors"), "explicit_als": dbt.ref("als_factors")}
    served = ServedFactors.from_table(name, factor_tables[name].to_arrow_table())
    return similar_movies_table(served, settings)
