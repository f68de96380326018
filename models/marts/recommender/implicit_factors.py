from cinemart.ranking_training import RankingSettings, chosen_params, implicit_factors_table
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    params = chosen_params(dbt.ref("implicit_grid_search").fetchnumpy())
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return implicit_factors_table(data, settings, params)
