"""Read the warehouse and assemble the one-file HTML report.

Each section is a function from a read-only connection to a `Section`, so one
can change without touching the others, and the page is SECTIONS in order.
Every query orders fully (ties included) and nothing reads the clock: the same
warehouse gives the same bytes, and the only times shown come from the data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import duckdb

from cinemart import __version__
from cinemart.report.page import Card, Column, Section, cards, figure, grid, heading, page, paragraph, table
from cinemart.report.svg import (
    Marker,
    Series,
    bar_chart,
    fmt_number,
    fmt_percent,
    hbar_chart,
    heatmap,
    line_chart,
)
from cinemart.warehouse.dbt import WarehouseError

Record = dict[str, Any]

REQUIRED_TABLES = (
    "dataset_overview", "genre_summary", "rating_distribution", "user_activity", "movie_popularity",
    "movies_by_release_year", "movies", "als_grid_search", "als_model_runs", "ranking_evaluation",
    "user_recommendations", "similar_movies", "similar_movies_cold_start", "ranking_evaluation_by_activity",
    "serving_settings",
)
# Well-known movies whose neighbours a reader can judge at a glance (titles as the movies mart stores them).
SHOWCASE_TITLES = ("Toy Story", "Star Wars: Episode IV - A New Hope", "Matrix, The")
SHOWCASE_COUNT = 3
MODEL_NAMES = {"implicit_als": "implicit ALS", "popularity": "popularity", "explicit_als": "explicit ALS",
               "ease": "EASE", "ease_implicit_blend": "EASE + implicit ALS blend", "popular_movies": "popular fallback"}
COLD_START_METHODS = {"collaborative": "collaborative only", "content": "content only", "blend": "blend (served)"}
RANKING_METRICS = {"precision_at_10": "precision@10", "recall_at_10": "recall@10", "ndcg_at_10": "NDCG@10",
                   "map_at_10": "MAP@10", "catalogue_coverage": "coverage"}
FULL_WIDTH = 960  # viewBox width of a chart spanning the page; half-width charts keep svg's default 600


def _records(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object] = ()) -> list[Record]:
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def _decimals(n: int) -> Callable[[float], str]:
    return lambda value: fmt_number(value, n)


def _year(value: float) -> str:
    return f"{value:.0f}"  # no thousands separator: 1995, not 1,995


def _top_decile_share(counts: Sequence[int]) -> float:
    """Share of all ratings held by the top 10% (counts sorted descending): the long tail in one number."""
    return sum(counts[: math.ceil(len(counts) / 10)]) / sum(counts)


def _implicit(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse holds implicit feedback (interactions without ratings: dataset_overview.feedback)."""
    return _records(con, "select feedback from dataset_overview")[0]["feedback"] == "implicit"


#: What the report says instead of a star figure on implicit feedback.
NO_STARS = "The data are interactions without ratings (implicit feedback): there are no star values."


def _overview(con: duckdb.DuckDBPyConnection) -> Section:
    o = _records(con, "select * from dataset_overview")[0]
    implicit = o["feedback"] == "implicit"
    items = [
        Card("Users", fmt_number(o["n_users"]), "with at least one clean rating"),
        Card("Movies", fmt_number(o["n_movies"]),
             f"{fmt_number(o['n_rated_movies'])} rated · {fmt_number(o['n_unrated_movies'])} unrated"),
        Card("Interactions" if implicit else "Ratings", fmt_number(o["n_ratings"]),
             f"{fmt_number(o['n_quarantined_ratings'])} quarantined"),
        Card("Feedback", "implicit", "interactions (plays, purchases) without star ratings") if implicit
        else Card("Mean rating", f"{o['mean_rating']:.2f} ★", "on a 0.5–5.0 scale"),
        Card("Density", fmt_percent(o["density"], 2), "of the user × movie matrix is filled"),
        Card("Ratings per user", f"{fmt_number(o['min_ratings_per_user'])}–{fmt_number(o['max_ratings_per_user'])}",
             "least to most active user"),
        Card("Tags", fmt_number(o["n_tags"]), f"{fmt_number(o['n_genre_values'])} genre values"),
        Card("Rating period", f"{o['first_rated_at']:%Y}–{o['last_rated_at']:%Y}",
             f"{o['first_rated_at']:%Y-%m-%d} to {o['last_rated_at']:%Y-%m-%d}"),
    ]
    return Section("overview", "Dataset overview", "Headline figures of the loaded dataset (dataset_overview).",
                   cards(items))


def _genres(con: duckdb.DuckDBPyConnection) -> Section:
    by_count = _records(con, "select genre, n_movies from genre_summary order by n_movies desc, genre")
    by_mean = _records(con, "select genre, mean_rating from genre_summary where mean_rating is not null "
                            "order by mean_rating desc, genre")
    overall = _records(con, "select mean_rating from dataset_overview")[0]["mean_rating"]
    count_chart = hbar_chart([r["genre"] for r in by_count], [r["n_movies"] for r in by_count],
                             title="Movies per genre", x_label="Movies", value_format=fmt_number)
    intro = ("A movie counts once in each of its genres, so the genre counts add up to more than the catalogue "
             "(genre_summary).")
    if overall is None:
        return Section("genres", "Genres", f"{intro} {NO_STARS}", figure("genre-movies", count_chart))
    mean_chart = hbar_chart([r["genre"] for r in by_mean], [r["mean_rating"] for r in by_mean],
                            title="Mean rating per genre", x_label="Mean rating (stars)",
                            value_format=_decimals(2), x_max=5.0)
    return Section(
        "genres", "Genres", intro,
        grid(figure("genre-movies", count_chart),
             figure("genre-mean-rating", mean_chart, f"Overall mean rating: {overall:.2f}.")),
    )


def _rating_distribution(con: duckdb.DuckDBPyConnection) -> str:
    """The star-value chart; on implicit feedback (no rows) a line saying there are none."""
    dist = _records(con, "select rating, n_ratings, share_of_ratings from rating_distribution order by rating")
    if not dist:
        return f"<p>{NO_STARS}</p>"
    mode = max(dist, key=lambda r: (r["n_ratings"], r["rating"]))
    half_stars = sum(r["share_of_ratings"] for r in dist if (r["rating"] * 2) % 2 == 1)
    dist_chart = bar_chart([f"{r['rating']:.1f}" for r in dist], {"ratings": [r["n_ratings"] for r in dist]},
                           title="Rating distribution", x_label="Rating (stars)", y_label="Ratings",
                           value_format=fmt_number)
    return figure("rating-distribution", dist_chart,
                  f"Most common: {mode['rating']:.1f} stars ({fmt_percent(mode['share_of_ratings'])} of ratings). "
                  f"Half-star ratings: {fmt_percent(half_stars)}.")


def _ratings_and_years(con: duckdb.DuckDBPyConnection) -> Section:
    years = _records(con, "select release_year, n_movies from movies_by_release_year order by release_year")
    peak = max(years, key=lambda r: (r["n_movies"], -r["release_year"]))
    year_chart = line_chart([Series("movies", [(r["release_year"], r["n_movies"]) for r in years])],
                            title="Movies per release year", x_label="Release year", y_label="Movies",
                            x_format=_year, y_from_zero=True)
    return Section(
        "ratings", "Ratings and release years", "How users rate (rating_distribution) and when the catalogue's "
        "movies came out (movies_by_release_year; movies without a year in the title are left out).",
        grid(_rating_distribution(con),
             figure("release-years", year_chart,
                    f"Peak: {peak['release_year']} with {fmt_number(peak['n_movies'])} movies.")),
    )


def _long_tail_chart(key: str, counts: Sequence[int], who: str, title: str) -> str:
    chart = line_chart([Series(f"ratings per {who}", list(enumerate(counts, start=1)))], title=title,
                       x_label=f"{who.capitalize()} rank (1 = most ratings, log scale)",
                       y_label="Ratings (log scale)", x_log=True, y_log=True)
    return figure(key, chart, f"The top 10% of {who}s account for {fmt_percent(_top_decile_share(counts))} "
                              f"of all ratings; median {who}: {fmt_number(counts[len(counts) // 2])} ratings.")


def _long_tails(con: duckdb.DuckDBPyConnection) -> Section:
    users = [r["n_ratings"] for r in _records(con, "select n_ratings from user_activity order by n_ratings desc")]
    movies = [r["n_ratings"] for r in _records(con, "select n_ratings from movie_popularity order by n_ratings desc")]
    return Section(
        "long-tails", "Long tails", "Ratings per user and per movie, sorted from most to least; on log-log axes a "
        "long tail shows as a slowly falling line (user_activity, movie_popularity).",
        grid(_long_tail_chart("user-activity", users, "user", "User activity"),
             _long_tail_chart("movie-popularity", movies, "movie", "Movie popularity")),
    )


def iteration_curve_chart(points: Sequence[tuple[int, float]], chosen_iterations: int, rank: int,
                          setting: str) -> str:
    """CV RMSE against sweeps for the chosen trajectory; one searched value gets a note, not a line."""
    note = (None if len(points) > 1 else
            f"Only {points[0][0]} iterations was searched for this configuration: no curve to draw.")
    best = dict(points)[chosen_iterations]
    return line_chart([Series("CV RMSE", points)], title=f"Iteration curve (rank {rank}, {setting})",
                      x_label="Iterations", y_label="CV RMSE (mean of folds)", y_format=_decimals(4), dots=True,
                      marker=Marker(chosen_iterations, best, f"chosen: {best:.4f}"), note=note)


def _explicit_label(row: Record) -> str:
    timed = ", time biases" if row["time_biases"] else ""
    if row["method"] == "bayesian":
        return f"Bayesian ALS, rank {row['rank']}, {row['iterations'] - row['burn_in']} samples{timed}"
    return f"ALS, rank {row['rank']}, reg {row['reg']:g}, {row['iterations']} iterations{timed}"


def _explicit_als(con: duckdb.DuckDBPyConnection) -> Section:
    latest = _records(con, "select not_built_reason from als_model_runs order by finished_at desc, run_id limit 1")
    if latest and latest[0]["not_built_reason"]:
        return Section("explicit-als", "Explicit ALS", f"Not built: {latest[0]['not_built_reason']} "
                       "(als_model_runs.not_built_reason). The ranking models below train on the interactions.", "")
    rows = _records(con, "select method, rank, reg, iterations, burn_in, time_biases, mean_rmse, std_rmse, rmse_standard_error, "
                         "len(fold_rmse) as folds, is_lowest_rmse, is_chosen, selection_rule "
                         "from als_grid_search order by method, rank, reg, iterations")
    run = _records(con, "select * from als_model_runs order by finished_at desc, run_id limit 1")[0]
    chosen = next(r for r in rows if r["is_chosen"])
    lowest = next(r for r in rows if r["is_lowest_rmse"])
    als_rows = [r for r in rows if r["method"] == "als" and not r["time_biases"]]
    figures = ""
    if als_rows:
        ranks, regs = sorted({r["rank"] for r in als_rows}), sorted({r["reg"] for r in als_rows})
        best: dict[tuple[int, float], Record] = {}
        for r in als_rows:  # rows come by ascending iterations, so ties keep the cheaper configuration
            key = (r["rank"], r["reg"])
            if key not in best or r["mean_rmse"] < best[key]["mean_rmse"]:
                best[key] = r
        values = [[best[(k, g)]["mean_rmse"] if (k, g) in best else None for g in regs] for k in ranks]
        notes = [[f"{best[(k, g)]['iterations']} iterations" if (k, g) in best else "" for g in regs] for k in ranks]
        marked = ((ranks.index(chosen["rank"]), regs.index(chosen["reg"])) if chosen in als_rows else None)
        grid_chart = heatmap([str(k) for k in ranks], [f"{g:g}" for g in regs], values,
                             title="ALS grid: CV RMSE at the best iterations per cell", x_label="Regularization",
                             y_label="Rank", value_format=_decimals(4), notes=notes, marked=marked,
                             marked_label="★ chosen", width=FULL_WIDTH)
        figures += figure("als-grid", grid_chart, "Lower is better (darker). Each cell shows the iteration "
                                                  "count with its lowest CV RMSE.")
    scored = run["n_test"] - run["cold_start_rows_dropped"]
    rmse_chart = hbar_chart(["Train (refit on train)", "Cross-validation", "Test (held out)"],
                            [run["train_rmse"], run["cv_rmse"], run["test_rmse"]], title="RMSE of the chosen model",
                            x_label="RMSE (stars, lower is better)", value_format=_decimals(4), bar_height=40)
    trajectory = [r for r in rows if (r["method"], r["rank"], r["reg"], r["burn_in"], r["time_biases"]) ==
                  (chosen["method"], chosen["rank"], chosen["reg"], chosen["burn_in"], chosen["time_biases"])]
    curve = [(r["iterations"], r["mean_rmse"]) for r in trajectory]
    rule = ("the least complex configuration within one standard error "
            f"(± {lowest['rmse_standard_error']:.4f}) of the lowest CV RMSE" if chosen["selection_rule"] == "one_se"
            else "the lowest CV RMSE")
    items = [
        Card("Chosen model", _explicit_label(chosen), f"{rule}; {fmt_number(len(rows))} grid points"),
        Card("CV RMSE", f"{chosen['mean_rmse']:.4f}",
             f"± {chosen['std_rmse']:.4f} over {chosen['folds']} folds; lowest {lowest['mean_rmse']:.4f}"),
        Card("Train RMSE", f"{run['train_rmse']:.4f}", f"{fmt_number(run['n_train'])} train ratings"),
        Card("Test RMSE", f"{run['test_rmse']:.4f}",
             f"{fmt_number(scored)} test ratings; {fmt_number(run['cold_start_rows_dropped'])} cold-start dropped"),
    ]
    reg_text = f"reg {chosen['reg']:g}" if chosen["method"] == "als" else f"Bayesian, burn-in {chosen['burn_in']}"
    return Section(
        "explicit-als", "Explicit ALS", "Rating prediction: every grid point (ALS by rank, regularization and "
        "iterations; Bayesian ALS by rank and sweeps; either with or without time biases) is cross-validated on the train part; the chosen one is "
        f"{rule}, refit on train and scored once on test (als_grid_search, latest als_model_runs row).",
        cards(items) + figures
        + grid(figure("als-rmse", rmse_chart, "Train RMSE far below CV and test RMSE is the gap any "
                                              "regularized factor model leaves on the data it was fitted on."),
               figure("als-iterations", iteration_curve_chart(curve, chosen["iterations"], chosen["rank"], reg_text),
                      f"Across folds the chosen point varies by ± {chosen['std_rmse']:.4f}: smaller steps "
                      "along the curve are within noise.")),
    )


def _model_label(row: dict[str, Any]) -> str:
    return MODEL_NAMES.get(row["model"], row["model"]) + (" (served)" if row["is_served"] else "")


def _ranking(con: duckdb.DuckDBPyConnection) -> Section:
    rows = _records(con, "select * from ranking_evaluation where protocol = 'random' and ndcg_at_10 is not null "
                         "order by is_served desc, model <> 'popularity', model")
    skipped = _records(con, "select model, scope from ranking_evaluation where protocol = 'random' "
                            "and ndcg_at_10 is null order by model")
    names = [_model_label(r) for r in rows]
    relevance = "relevant = every held-out interaction" if _implicit(con) else "relevant = test rating ≥ 4.0"
    chart = bar_chart(list(RANKING_METRICS.values()), {n: [r[m] for m in RANKING_METRICS] for n, r in zip(names, rows)},
                      title="Ranking quality on the test part (top 10)", x_label="Metric", y_label="Score",
                      value_format=_decimals(3), width=FULL_WIDTH)
    columns = [Column("Model"), Column("Validation NDCG@10", numeric=True),
               *(Column(label, numeric=True) for label in RANKING_METRICS.values()),
               Column("Users evaluated", numeric=True)]
    body = [[n, f"{r['validation_ndcg_at_10']:.3f}", *(f"{r[m]:.3f}" for m in RANKING_METRICS),
             fmt_number(r["n_users_evaluated"])] for n, r in zip(names, rows)]
    return Section(
        "ranking", "Ranking evaluation", "Each model is fitted on the train part and judged on its top-10 lists "
        f"against the test part ({relevance}). The model with the best NDCG@10 on the validation "
        "fold of train is served; the test figures only report (ranking_evaluation)."
        + "".join(f" Not judged: {MODEL_NAMES.get(r['model'], r['model'])} ({r['scope']})." for r in skipped),
        figure("ranking", chart) + table(columns, body) + _protocols(con) + _beyond_accuracy(names, rows)
        + _by_activity(con),
    )


def _protocols(con: duckdb.DuckDBPyConnection) -> str:
    """Each model under the random and the temporal protocol, side by side: how much the random split flatters it."""
    rows = _records(con, "select r.model, r.is_served, r.ndcg_at_10 as random_ndcg, t.ndcg_at_10 as temporal_ndcg, "
                         "r.precision_at_10 as random_precision, t.precision_at_10 as temporal_precision, "
                         "t.n_users_evaluated as temporal_users "
                         "from ranking_evaluation r join ranking_evaluation t using (model) "
                         "where r.protocol = 'random' and t.protocol = 'temporal' and r.ndcg_at_10 is not null "
                         "order by r.is_served desc, r.model <> 'popularity', r.model")
    names = [_model_label(r) for r in rows]
    chart = bar_chart(names, {"random split": [r["random_ndcg"] for r in rows],
                              "temporal split": [r["temporal_ndcg"] for r in rows]},
                      title="NDCG@10 under the random and the temporal protocol", x_label="Model",
                      y_label="NDCG@10", value_format=_decimals(3), width=FULL_WIDTH)
    columns = [Column("Model"), *(Column(label, numeric=True) for label in (
        "NDCG@10 random", "NDCG@10 temporal", "Precision@10 random", "Precision@10 temporal", "Users (temporal)"))]
    body = [[n, f"{r['random_ndcg']:.3f}", f"{r['temporal_ndcg']:.3f}", f"{r['random_precision']:.3f}",
             f"{r['temporal_precision']:.3f}", fmt_number(r["temporal_users"])] for n, r in zip(names, rows)]
    return (figure("ranking-protocols", chart, "Temporal: fitted on the ratings up to the cut (the 80th percentile "
                   "of rating times by default), judged on those after it, for users and movies seen before the "
                   "cut. A random split lets a model learn from ratings made after the ones it is tested on.")
            + table(columns, body))


#: ranking_evaluation's beyond-accuracy columns, as the report labels them.
BEYOND_METRICS = {"catalogue_coverage": "Coverage", "distributional_coverage": "Distributional coverage (bits)",
                  "novelty": "Novelty (bits)", "intra_list_diversity": "Intra-list diversity",
                  "popularity_percentile": "Popularity percentile", "personalised_list_share": "Personalised lists"}


def _beyond_accuracy(names: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """Accuracy against novelty and against coverage, one dot per model, and the beyond-accuracy table."""
    def versus(column: str, label: str) -> str:
        return line_chart([Series(n, [(r[column], r["ndcg_at_10"])]) for n, r in zip(names, rows)],
                          title=f"NDCG@10 against {label.lower()}", x_label=label, y_label="NDCG@10 (test)",
                          dots=True, y_from_zero=True)

    columns = [Column("Model"), *(Column(label, numeric=True) for label in BEYOND_METRICS.values())]
    body = [[n, *(f"{r[m]:.3f}" for m in BEYOND_METRICS)] for n, r in zip(names, rows)]
    return (grid(figure("ranking-novelty", versus("novelty", "Novelty (bits)"),
                        "Novelty: mean -log2 of the share of train users who rated a listed movie."),
                 figure("ranking-coverage", versus("catalogue_coverage", "Catalogue coverage"),
                        "Coverage: distinct movies in the evaluated users' lists / train movies."))
            + table(columns, body))


def _by_activity(con: duckdb.DuckDBPyConnection) -> str:
    """precision@10 per train-profile size for the served model and the fallback: where personalisation pays."""
    rows = _records(con, "select * from ranking_evaluation_by_activity "
                         "where is_served or model = 'popular_movies' order by bucket_order, is_served desc, model")
    buckets = list(dict.fromkeys(r["activity_bucket"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    cell = {(r["activity_bucket"], r["model"]): r for r in rows}
    columns = [Column("Train ratings of the user"), Column("Users", numeric=True),
               *(Column(f"{MODEL_NAMES.get(m, m)} p@10", numeric=True) for m in models)]

    def metric(bucket: str, model: str) -> str:
        value = cell[bucket, model]["precision_at_10"]
        return "—" if value is None else f"{value:.3f}"

    body = [[b, fmt_number(cell[b, models[0]]["n_users_evaluated"]), *(metric(b, m) for m in models)]
            for b in buckets]
    return (heading(3, "By user activity")
            + paragraph("precision@10 of the served model and of the popular fallback (what a user without "
                        "factors gets), by how many train ratings the user has (ranking_evaluation_by_activity; "
                        "— : no user of that size in the test part).")
            + table(columns, body))


def _sample_users(con: duckdb.DuckDBPyConnection) -> list[tuple[Record, str]]:
    """User 1 (or the lowest id), the most active and the least active user that have recommendations."""
    users = _records(con, "select user_id, n_ratings, mean_rating from user_activity where user_id in "
                          "(select user_id from user_recommendations) order by user_id")
    picks = [(users[0], "first user"),
             (min(users, key=lambda u: (-u["n_ratings"], u["user_id"])), "most active user"),
             (min(users, key=lambda u: (u["n_ratings"], u["user_id"])), "least active user")]
    distinct: dict[int, tuple[Record, str]] = {}
    for user, why in picks:
        distinct.setdefault(user["user_id"], (user, why))
    return list(distinct.values())


def _recommendations(con: duckdb.DuckDBPyConnection) -> Section:
    columns = [Column("#", numeric=True), Column("Recommended"), Column("Genres"), Column("Score", numeric=True),
               Column("Because you liked"), Column("Similarity", numeric=True)]
    parts = []
    for user, why in _sample_users(con):
        recs = _records(con, "select r.rank, m.full_title, r.genres, r.score, b.full_title as because, "
                             "r.because_similarity from user_recommendations r "
                             "join movies m on m.movie_id = r.movie_id "
                             "left join movies b on b.movie_id = r.because_you_liked_movie_id "
                             "where r.user_id = ? order by r.rank", [user["user_id"]])
        profile = (f"{fmt_number(user['n_ratings'])} interactions" if user["mean_rating"] is None
                   else f"{fmt_number(user['n_ratings'])} ratings, mean {user['mean_rating']:.2f}")
        parts.append(heading(3, f"User {user['user_id']} — {why}: {profile}"))
        parts.append(table(columns, [
            [r["rank"], r["full_title"], ", ".join(r["genres"] or []), f"{r['score']:.3f}", r["because"] or "—",
             "—" if r["because_similarity"] is None else f"{r['because_similarity']:.2f}"] for r in recs]))
    return Section(
        "recommendations", "Sample recommendations", "Top-10 unseen movies for a few users from the served model, "
        "each explained by the user's highly rated movie most similar to it (user_recommendations).",
        "".join(parts),
    )


def _showcase_movies(con: duckdb.DuckDBPyConnection) -> list[Record]:
    """The well-known titles that have a similar-movie list, topped up with the most-rated movies."""
    listed = _records(con, "select distinct s.movie_id, m.title, m.full_title, m.n_ratings from similar_movies s "
                           "join movies m on m.movie_id = s.movie_id order by m.n_ratings desc, s.movie_id")
    by_title: dict[str, Record] = {}
    for movie in listed:  # most rated first: a remake sharing the title does not displace the original
        by_title.setdefault(movie["title"], movie)
    wanted = [by_title[title] for title in SHOWCASE_TITLES if title in by_title]
    return (wanted + [m for m in listed if m not in wanted])[:SHOWCASE_COUNT]


def _similar_movies(con: duckdb.DuckDBPyConnection) -> Section:
    columns = [Column("#", numeric=True), Column("Similar movie"), Column("Similarity", numeric=True)]
    tables = []
    for movie in _showcase_movies(con):
        rows = _records(con, "select s.rank, m.full_title, s.similarity from similar_movies s "
                             "join movies m on m.movie_id = s.similar_movie_id where s.movie_id = ? order by s.rank",
                        [movie["movie_id"]])
        tables.append(f"<div>{heading(3, movie['full_title'])}"
                      + paragraph(f"{fmt_number(movie['n_ratings'])} ratings")
                      + table(columns, [[r["rank"], r["full_title"], f"{r['similarity']:.2f}"] for r in rows])
                      + "</div>")
    return Section(
        "similar-movies", "Similar movies", "The ten nearest movies: by the served model's movie factors where a "
        "movie has enough ratings, by its content (genres, tags, year) where it has few, and a blend in between "
        "(similar_movies).",
        _similarity_coverage(con) + grid(*tables, narrow=True) + _cold_start_curve(con),
    )


def _similarity_coverage(con: duckdb.DuckDBPyConnection) -> str:
    c = _records(con, "select (select count(*) from movies) as catalogue, "
                      "(select count(*) from movies where n_ratings > 0) as rated, "
                      "count(distinct movie_id) as listed, "
                      "count(distinct movie_id) filter (where source = 'collaborative') as collaborative, "
                      "count(distinct movie_id) filter (where source = 'blend') as blend, "
                      "count(distinct movie_id) filter (where source = 'content') as content, "
                      "count(distinct movie_id) filter (where source = 'popular') as popular "
                      "from similar_movies where rank = 1")[0]
    return cards([
        Card("Movies with a list", fmt_number(c["listed"]),
             f"of {fmt_number(c['catalogue'])} in the catalogue ({fmt_number(c['rated'])} rated)"),
        Card("Collaborative", fmt_number(c["collaborative"]), "enough ratings: the model's factors alone"),
        Card("Blend", fmt_number(c["blend"]), "some ratings: factors and content, weighted by support"),
        Card("Content", fmt_number(c["content"]), "no usable ratings: genres, tags and year"),
        Card("Popular", fmt_number(c["popular"]), "neither ratings nor content: the most-rated movies"),
    ])


def cold_start_chart(rows: Sequence[Record], threshold: int) -> str:
    """overlap@10 with the full-data list against ratings kept, one line per method (the blend as served)."""
    series = []
    for method, label in COLD_START_METHODS.items():
        points = [(r["k"], r["overlap_at_10"]) for r in rows if r["overlap_at_10"] is not None
                  and r["method"] == method and (method != "blend" or r["threshold"] == threshold)]
        if points:
            series.append(Series(label, sorted(points)))
    return line_chart(series, title="Cold start: how much of a movie's list survives with k ratings",
                      x_label="Ratings kept (k)", y_label="overlap@10 with the full-data list", x_log=True,
                      y_format=_decimals(2), dots=True, y_from_zero=True, width=FULL_WIDTH)


def _cold_start_curve(con: duckdb.DuckDBPyConnection) -> str:
    threshold = _records(con, "select similar_movies_min_ratings as t from serving_settings")[0]["t"]
    rows = _records(con, "select * from similar_movies_cold_start order by k, method, threshold nulls first")
    n_movies = max((r["n_movies"] for r in rows), default=0)
    if n_movies == 0:
        return paragraph("No movie has the 50 ratings the cold-start simulation starts from "
                         "(similar_movies_cold_start): no curve to draw.")
    return figure("cold-start", cold_start_chart(rows, threshold),
                  f"{fmt_number(n_movies)} movies with at least 50 ratings keep only k of them; their lists are "
                  f"rebuilt and compared with the lists from all their ratings (similar_movies_cold_start). "
                  f"The blend is drawn at the served threshold, {threshold} ratings.")


SECTIONS: tuple[Callable[[duckdb.DuckDBPyConnection], Section], ...] = (
    _overview, _genres, _ratings_and_years, _long_tails, _explicit_als, _ranking, _recommendations, _similar_movies,
)


def render_report(database: Path) -> str:
    """The report's HTML for the warehouse at `database`, opened read-only."""
    if not database.is_file():
        raise WarehouseError(f"no warehouse at {database}; build one with `cinemart build`")
    with duckdb.connect(str(database), read_only=True) as con:
        present = {name for (name,) in con.execute("select table_name from information_schema.tables").fetchall()}
        missing = [name for name in REQUIRED_TABLES if name not in present]
        if missing:
            raise WarehouseError(f"{database} lacks {', '.join(missing)}; run a full `cinemart build` first")
        sections = [section(con) for section in SECTIONS]
        o = _records(con, "select * from dataset_overview")[0]
        run = _records(con, "select run_id, finished_at from als_model_runs order by finished_at desc, run_id limit 1")[0]
    kind = "interactions (implicit feedback)" if o["feedback"] == "implicit" else "ratings"
    subtitle = (f"{database.name}: {fmt_number(o['n_ratings'])} {kind} of {fmt_number(o['n_movies'])} movies by "
                f"{fmt_number(o['n_users'])} users, {o['first_rated_at']:%Y-%m-%d} to {o['last_rated_at']:%Y-%m-%d}.")
    explicit = "explicit ALS not built" if run["run_id"] is None else f"explicit ALS run {run['run_id']}"
    footer = (f"cinemart {__version__}. Built from the warehouse alone ({explicit}, "
              f"finished {run['finished_at']:%Y-%m-%d %H:%M} UTC): the same warehouse gives the same file.")
    return page("Cinemart warehouse report", subtitle, sections, footer)


def write_report(database: Path, out: Path) -> Path:
    """Write the self-contained HTML report for `database` to `out` (parents created) and return `out`."""
    html = render_report(database)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
