from cinemart.ranking_training import RankingSettings, ServedFactors, recommendations_table, served_model_name
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    name = served_model_name(dbt.ref("ranking_evaluation").project("model, is_served").fetchnumpy())
    factor_tables = {"implicit_als": dbt.ref("implicit_factors"), "explicit_als": dbt.ref("als_factors")}
    served = ServedFactors.from_table(name, factor_tables[name].to_arrow_table())
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return recommendations_table(data, served, settings)
