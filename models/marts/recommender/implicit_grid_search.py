from cinemart.ranking_training import RankingSettings, implicit_grid_search_table
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return implicit_grid_search_table(data, settings)
