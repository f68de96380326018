from cinemart.explicit_training import ExplicitSettings, grid_search_table
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = ExplicitSettings.from_dbt(dbt.config.get("model_settings"))
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return grid_search_table(data, settings)
