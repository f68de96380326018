from cinemart.ranking_training import RankingSettings, ServedFactors, flagged_model, recommendations_table
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    evaluation = dbt.ref("ranking_evaluation").project("model, is_served, serves_similarity").fetchnumpy()
    factor_tables = {"implicit_als": dbt.ref("implicit_factors"), "explicit_als": dbt.ref("als_factors"),
                     "popularity": dbt.ref("popularity_factors")}
    served, taste = (flagged_model(evaluation, flag) for flag in ("is_served", "serves_similarity"))
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return recommendations_table(data, ServedFactors.from_table(served, factor_tables[served].to_arrow_table()),
                                 ServedFactors.from_table(taste, factor_tables[taste].to_arrow_table()), settings)
