from cinemart.explicit_training import ExplicitSettings, chosen_point
from cinemart.ranking_training import RankingSettings, chosen_params, ranking_evaluation_table
from cinemart.ratings_data import SPLIT_COLUMNS, SplitRatings


def model(dbt, session):
    settings = RankingSettings.from_dbt(dbt.config.get("model_settings"))
    explicit_settings = ExplicitSettings.from_dbt(dbt.config.get("model_settings"))
    implicit = chosen_params(dbt.ref("implicit_grid_search").fetchnumpy())
    explicit = chosen_point(dbt.ref("als_grid_search").project("rank, reg, iterations, is_chosen").fetchnumpy())
    data = SplitRatings.from_columns(dbt.ref("int_ratings_split").project(SPLIT_COLUMNS).fetchnumpy())
    return ranking_evaluation_table(data, settings, implicit, explicit_settings, explicit)
