"""Users the served model does not know, or barely knows, on the real ml-latest-small (the session's one build).

recommend_for's fallback for an unknown id, the fold-in of new ratings
(Python and `cinemart recommend`) and ranking_evaluation_by_activity. Bands
come from a real run of this build (benchmarks/RESULTS.md, "Ranking by user activity and thin users").
"""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest

from cinemart.cli import main
from cinemart.serving.new_user import RecommendError, ServedModel, parse_ratings

UNKNOWN_USER = 987654321
#: Every rating of user 442 is below 4.0: threshold confidence counts none, so the served
#: implicit ALS has an all-zero factor row for them (cinemart.models.base.Factors.personalised).
UNPERSONALISABLE_USER = 442
#: The served implicit model's users it cannot personalise (all-zero factor row, zero bias).
UNPERSONALISABLE = ("select user_id from implicit_user_factors "
                    "where bias = 0 and len(list_filter(factors, lambda x: x <> 0)) = 0")


def test_popular_movies_is_the_documented_damped_mean(real_warehouse):
    """Recomputed here from the clean ratings: (n x mean + m x mu) / (n + m), n >= the minimum, ties by id."""
    expected = real_warehouse.query("""
        with g as (select avg(rating) as mu from stg_movielens__ratings),
        p as (select movie_id, count(*) as n, avg(rating) as mean from stg_movielens__ratings group by movie_id)
        select movie_id, (n * mean + 50 * mu) / (n + 50) as d from p, g where n >= 20 order by d desc, movie_id""")
    got = real_warehouse.query("select movie_id, damped_mean_rating, prior_ratings, min_ratings "
                               "from popular_movies order by rank")
    assert [m for m, *_ in got] == [m for m, _ in expected]
    assert all(math.isclose(a[1], b[1], rel_tol=1e-12) for a, b in zip(got, expected))
    assert {(p, n) for _, _, p, n in got} == {(50, 20)}
    assert len(got) == 1297  # movies with >= 20 ratings on ml-latest-small
    top = [t for (t,) in real_warehouse.query("select title from popular_movies where rank <= 3 order by rank")]
    assert top[0] == "Shawshank Redemption, The"


def test_recommend_for_an_unknown_user_serves_the_fallback(real_warehouse):
    rows = real_warehouse.query("select rank, movie_id, score, model, source from recommend_for(?, 10) order by rank",
                                [UNKNOWN_USER])
    popular = real_warehouse.query("select movie_id, damped_mean_rating from popular_movies where rank <= 10 "
                                   "order by rank")
    assert [(r, m, s) for r, m, s, _, _ in rows] == [(i + 1, m, s) for i, (m, s) in enumerate(popular)]
    assert {(model, source) for *_, model, source in rows} == {("popular_movies", "popular_fallback")}


def test_recommend_for_a_known_user_stays_personalised(real_warehouse):
    (served,), = real_warehouse.query("select recommendations_model from serving_settings")
    rows = real_warehouse.query("select model, source from recommend_for(1, 10)")
    assert len(rows) == 10 and set(rows) == {(served, "personalised")}


def test_fold_in_of_a_users_own_ratings_gives_their_served_list(real_warehouse):
    """Overlap@10 between the fold-in of a user's own ratings and their user_recommendations, for every 5th
    user and every user the served model cannot personalise (user 442).

    The served factors are fitted on all clean ratings, so a user's own
    ratings are what the fit saw; the fold-in is the fit's next user
    half-step. A user the model cannot personalise folds in to the same
    all-zero row, so both answers are the popular_movies fallback.
    Measured (implicit ALS served, 128 factors): mean overlap@10 0.987 over
    these 123 users, min 0.9; user 442's is 1.0.
    """
    served = ServedModel.load(real_warehouse.database)
    sample = f"user_id % 5 = 0 or user_id in ({UNPERSONALISABLE})"
    unpersonalisable = {u for (u,) in real_warehouse.query(UNPERSONALISABLE)}
    assert unpersonalisable == {UNPERSONALISABLE_USER}
    ratings = real_warehouse.query("select user_id, movie_id, rating from stg_movielens__ratings "
                                   f"where {sample} order by user_id, movie_id")
    lists = real_warehouse.query(f"select user_id, movie_id from user_recommendations where {sample}")
    by_user: dict[int, dict[int, float]] = {}
    for user_id, movie_id, rating in ratings:
        by_user.setdefault(user_id, {})[movie_id] = rating
    served_lists: dict[int, set[int]] = {}
    for user_id, movie_id in lists:
        served_lists.setdefault(user_id, set()).add(movie_id)
    overlaps = {}
    for user_id, own in by_user.items():
        recs = served.recommend(own, 10)
        expected = "popular_fallback" if user_id in unpersonalisable else "fold_in"
        assert {r.source for r in recs} == {expected} and not ({r.movie_id for r in recs} & set(own)), user_id
        overlaps[user_id] = len({r.movie_id for r in recs} & served_lists[user_id]) / 10
    print(f"fold-in overlap@10 over {len(overlaps)} users: mean {np.mean(list(overlaps.values())):.3f}, "
          f"min {min(overlaps.values()):.2f}")
    assert len(overlaps) == 123
    assert overlaps[UNPERSONALISABLE_USER] == 1.0
    assert 0.96 <= np.mean(list(overlaps.values())) <= 1.0
    assert min(overlaps.values()) >= 0.8


def test_a_user_the_model_cannot_personalise_gets_the_fallback_everywhere(real_warehouse, tmp_path, capsys):
    """User 442 (all-zero factor row): user_recommendations, recommend_for and `cinemart recommend --user`
    give the same ten movies, the top of popular_movies they have not rated, labelled as the fallback and
    with no "because you liked" (there is no taste to explain)."""
    copy = tmp_path / "copy.duckdb"
    shutil.copyfile(real_warehouse.database, copy)
    (served,), = real_warehouse.query("select recommendations_model from serving_settings")
    assert served == "ease_implicit_blend"
    expected = [m for (m,) in real_warehouse.query(
        "select movie_id from popular_movies where movie_id not in "
        "(select movie_id from stg_movielens__ratings where user_id = ?) order by rank limit 10",
        [UNPERSONALISABLE_USER])]
    table = [m for (m,) in real_warehouse.query("select movie_id from user_recommendations where user_id = ? "
                                                 "order by rank", [UNPERSONALISABLE_USER])]
    macro = real_warehouse.query("select movie_id, model, source from recommend_for(?, 10) order by rank",
                                 [UNPERSONALISABLE_USER])
    assert main(["recommend", "--user", str(UNPERSONALISABLE_USER), "--warehouse", str(copy)]) == 0
    printed = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert table == [m for m, *_ in macro] == [int(line[1]) for line in printed] == expected
    assert {(model, source) for _, model, source in macro} == {("popular_movies", "popular_fallback")}
    assert {line[-1] for line in printed} == {"popular_fallback"}
    labels = real_warehouse.query("select distinct model, source, because_you_liked_movie_id, because_you_liked, "
                                  "because_similarity from user_recommendations where user_id = ?",
                                  [UNPERSONALISABLE_USER])
    assert labels == [("popular_movies", "popular_fallback", None, None, None)]


def test_fold_in_names_the_unknown_movie_ids(real_warehouse):
    served = ServedModel.load(real_warehouse.database)
    with pytest.raises(RecommendError, match=r"unknown movie ids: 99999999, 88888888 \(not in movies\)"):
        served.recommend({260: 5.0, 99999999: 4.0, 88888888: 3.0})


def test_recommend_cli_prints_a_table_for_new_ratings(real_warehouse, capsys):
    assert main(["recommend", "--ratings", "260:5,1196:4.5,1210:4", "-n", "5",
                 "--warehouse", str(real_warehouse.database)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rank", "movie_id", "title", "score", "source"]
    assert len(lines) == 6 and all(line.split()[-1] == "fold_in" for line in lines[1:])
    assert [int(line.split()[0]) for line in lines[1:]] == [1, 2, 3, 4, 5]
    assert not {"260", "1196", "1210"} & {line.split()[1] for line in lines[1:]}


def test_recommend_cli_for_a_user_id_prints_what_recommend_for_serves(real_warehouse, capsys):
    assert main(["recommend", "--user", str(UNKNOWN_USER), "--warehouse", str(real_warehouse.database)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 11 and "Shawshank Redemption" in lines[1] and lines[1].endswith("popular_fallback")
    assert main(["recommend", "--user", "1", "-n", "3", "--warehouse", str(real_warehouse.database)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all(line.endswith("personalised") for line in lines[1:])


@pytest.mark.parametrize("ratings, fragment", [
    ("260:5,99999999:4", "unknown movie id: 99999999 (not in movies)"),
    ("260=5", "'260=5' is not movie_id:rating"),
    ("260:9", "rating 9 for movie 260 is outside 0.5..5.0"),
    ("260:5,260:4", "movie 260 is rated twice"),
    (",", "--ratings is empty"),
])
def test_recommend_cli_bad_ratings_fail_in_one_line(real_warehouse, capsys, ratings, fragment):
    assert main(["recommend", "--ratings", ratings, "--warehouse", str(real_warehouse.database)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cinemart: error: ") and err.count("\n") == 1 and fragment in err


def test_recommend_cli_without_a_warehouse_says_so(tmp_path, capsys):
    assert main(["recommend", "--ratings", "260:5", "--warehouse", str(tmp_path / "none.duckdb")]) == 2
    err = capsys.readouterr().err
    assert err == f"cinemart: error: no warehouse at {tmp_path / 'none.duckdb'}; build one with `cinemart build`\n"


def test_parse_ratings_reads_half_stars():
    assert parse_ratings(" 260:5 , 1196:4.5,") == {260: 5.0, 1196: 4.5}


def test_evaluation_by_activity_adds_up_to_ranking_evaluation(real_warehouse):
    """Every model x bucket is present, and the user-weighted buckets give back ranking_evaluation's figures."""
    rows = real_warehouse.query("select model, bucket_order, activity_bucket, n_users_evaluated, precision_at_10, "
                                "ndcg_at_10, is_served from ranking_evaluation_by_activity order by model, bucket_order")
    assert {(m, b) for m, b, *_ in rows} == {(m, b) for m in ("implicit_als", "popularity", "explicit_als", "ease",
                                                             "ease_implicit_blend", "popular_movies")
                                             for b in (1, 2, 3, 4)}
    overall = {m: (n, p, ndcg, served) for m, n, p, ndcg, served in real_warehouse.query(
        "select model, n_users_evaluated, precision_at_10, ndcg_at_10, is_served from ranking_evaluation "
        "where protocol = 'random'")}
    for model, (n, precision, ndcg, served) in overall.items():
        mine = [r for r in rows if r[0] == model]
        assert sum(r[3] for r in mine) == n
        assert math.isclose(sum(r[3] * r[4] for r in mine if r[3]) / n, precision, rel_tol=1e-9)
        assert math.isclose(sum(r[3] * r[5] for r in mine if r[3]) / n, ndcg, rel_tol=1e-9)
        assert all(r[6] == served for r in mine)
    assert all(r[4] is None for r in rows if r[3] == 0)  # an empty bucket has no metrics, not zeros


#: Users with a relevant test rating of a train movie, by their number of train ratings: who the split says
#: ranking_evaluation_by_activity must judge in each bucket.
JUDGED_USERS_BY_BUCKET = """
with train as (select user_id, count(*) as n from int_ratings_split where not is_test group by 1),
     train_movies as (select distinct movie_id from int_ratings_split where not is_test),
     judged as (select distinct user_id from int_ratings_split join train_movies using (movie_id)
                join train using (user_id) where is_test and rating >= 4)
select case when n <= 5 then '1-5' when n <= 20 then '6-20' when n <= 100 then '21-100' else '>100' end, count(*)
from judged join train using (user_id) group by 1
"""


def test_evaluation_by_activity_figures(real_warehouse):
    """ml-latest-small's figures (benchmarks/RESULTS.md). Every user has >= 20 ratings in all, so 1-5 is empty and 6-20
    thin (64 users); the served implicit ALS beats the fallback in every bucket that has users.
    Measured precision@10, implicit_als / popular_movies: 6-20 0.0766 / 0.0453, 21-100 0.1693 / 0.0696,
    >100 0.3727 / 0.2166."""
    rows = {(m, b): (n, p) for m, b, n, p in real_warehouse.query(
        "select model, activity_bucket, n_users_evaluated, precision_at_10 from ranking_evaluation_by_activity")}
    judged = dict(real_warehouse.query(JUDGED_USERS_BY_BUCKET))
    assert [rows[("implicit_als", b)][0] for b in ("1-5", "6-20", "21-100", ">100")] == \
        [judged.get(b, 0) for b in ("1-5", "6-20", "21-100", ">100")]
    assert judged.get("1-5", 0) == 0 and judged["6-20"] > 0  # every user rated >= 20: none has <= 5 in train
    for bucket in ("6-20", "21-100", ">100"):
        assert rows[("implicit_als", bucket)][1] > rows[("popular_movies", bucket)][1]
    assert 0.06 <= rows[("implicit_als", "6-20")][1] <= 0.10
    assert 0.15 <= rows[("implicit_als", "21-100")][1] <= 0.19
    assert 0.34 <= rows[("implicit_als", ">100")][1] <= 0.40
    assert 0.06 <= rows[("popular_movies", "21-100")][1] <= 0.08
    assert 0.20 <= rows[("popular_movies", ">100")][1] <= 0.235
