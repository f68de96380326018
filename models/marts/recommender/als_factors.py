from cinemart.explicit_training import ExplicitSettings, chosen_point, factors_table
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = ExplicitSettings.from_dbt(dbt.config.get("model_settings"))
    point = chosen_point(dbt.ref("als_grid_search").project("rank, reg, iterations, is_chosen").fetchnumpy())
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return factors_table(data, settings, point)
