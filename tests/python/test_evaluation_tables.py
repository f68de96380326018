"""ranking_evaluation and its activity split share one set of lists per build (ranking_tables.evaluation_lists)."""

from __future__ import annotations

import numpy as np
import pytest

from cinemart.data.ids import IdIndex
from cinemart.data.ratings import PARTS
from cinemart.models.base import Factors
from cinemart.models.implicit_als import ImplicitParams
from cinemart.similarity.content import ContentVectors
from cinemart.models.ease import FIT_WORKING_BYTES, EaseParams
from cinemart.warehouse import ease_tables, ranking_tables
from cinemart.warehouse.activity_tables import ranking_evaluation_by_activity_table
from cinemart.warehouse.factor_tables import ServedFactors
from cinemart.evaluation.ranking import ranking_metrics
from cinemart.warehouse.ranking_tables import EvaluationProtocol, RankingSettings, ranking_evaluation_table
from test_tuning_plan import split_ratings

SETTINGS = RankingSettings.from_config({})
IMPLICIT = ImplicitParams(factors=8, regularization=1.0, alpha=2.0, iterations=3)
EASE = ease_tables.EaseChoice(EaseParams(50.0), 1 << 30, "ease-run", None)


def quiet(message: str) -> None:
    """Progress sink: these tests check tables, not log lines."""


def explicit_fit(data, part: str = "test") -> ServedFactors:
    """A stand-in explicit fit on the part's fit users and movies (random factors)."""
    train = EvaluationProtocol.of(data, SETTINGS, part).train
    rng = np.random.default_rng(1)
    factors = Factors.unbiased(rng.random((len(train.users), 4)), rng.random((len(train.movies), 4)))
    return ServedFactors("explicit_als", f"explicit-run-{part}", train.users, train.movies, factors,
                         np.ones(len(train.movies), dtype=np.int64))


def content(data) -> ContentVectors:
    """Random content vectors for every movie of `data`, a few of them empty (no genre, year or tag)."""
    movies = np.unique(data.movie_id)
    vectors = np.random.default_rng(2).random((movies.size, 6)).astype(np.float32)
    vectors[::17] = 0
    return ContentVectors(IdIndex(movies), vectors, ())


def explicit_fits(data) -> dict[str, ServedFactors]:
    return {part: explicit_fit(data, part) for part in PARTS}


def by_activity(data, fit: ServedFactors, blend_weight: float = 0.25):
    movies = EvaluationProtocol.of(data, SETTINGS).train.movies.ids[:30]
    popular = {"movie_id": movies, "score": np.linspace(4.5, 3.0, movies.size)}
    return ranking_evaluation_by_activity_table(data, SETTINGS, IMPLICIT, "rid", EASE, blend_weight, fit,
                                                "implicit_als", popular, progress=quiet).to_pylist()


def chosen_weight(rows: list[dict]) -> float:
    """The blend's EASE weight ranking_evaluation chose on validation."""
    return ease_tables.blend_weight(next(r["parameters"] for r in rows if r["model"] == ease_tables.BLEND_MODEL))


def test_the_activity_split_buckets_the_lists_ranking_evaluation_made(monkeypatch):
    data = split_ratings(seed=3)
    fit = explicit_fit(data)
    overall = {r["model"]: r for r in ranking_evaluation_table(data, SETTINGS, IMPLICIT, "rid", EASE, explicit_fits(data), "{}", content(data),
                                                                 progress=quiet).to_pylist() if r["protocol"] == "random"}
    monkeypatch.setattr(ranking_tables, "fit_implicit_als", lambda *a, **k: pytest.fail("implicit ALS refit"))
    monkeypatch.setattr(ease_tables, "fit_ease", lambda *a, **k: pytest.fail("EASE refit"))

    rows = by_activity(data, fit, chosen_weight(list(overall.values())))
    assert {r["model"] for r in rows} == {*overall, "popular_movies"}

    for model, evaluated in overall.items():
        mine = [r for r in rows if r["model"] == model and r["n_users_evaluated"]]
        n = sum(r["n_users_evaluated"] for r in mine)
        assert n == evaluated["n_users_evaluated"] > 0
        assert sum(r["n_users_evaluated"] * r["precision_at_10"] for r in mine) / n == \
            pytest.approx(evaluated["precision_at_10"], abs=1e-12)


def test_past_the_cap_a_seeded_user_sample_is_judged_and_the_tables_say_so(monkeypatch):
    """Each sampled user scores what they score in the full evaluation: the sample only chooses whom to average."""
    from dataclasses import replace

    from cinemart.evaluation.ranking import per_user_metrics

    data = split_ratings(seed=6)
    fit = explicit_fit(data)
    full_protocol = EvaluationProtocol.of(data, SETTINGS)
    sampled_settings = replace(SETTINGS, eval_max_users=100)
    protocol = EvaluationProtocol.of(data, sampled_settings)
    assert protocol.n_eligible == full_protocol.n_eligible == full_protocol.eval_users.size > 100
    assert protocol.eval_users.size == 100 and protocol.is_user_sample and not full_protocol.is_user_sample
    assert np.isin(protocol.eval_users, full_protocol.eval_users).all()

    table = [r for r in ranking_evaluation_table(data, sampled_settings, IMPLICIT, "rid", EASE,
                                                 {**explicit_fits(data), "test": fit}, "{}", content(data),
                                                 progress=quiet).to_pylist() if r["protocol"] == "random"]
    full_lists = full_protocol.top_k(fit.factors, 10)
    every_user = per_user_metrics(full_lists, full_protocol.relevant)
    in_sample = np.isin(every_user["users"], protocol.eval_users)
    explicit = next(r for r in table if r["model"] == "explicit_als")
    assert explicit["precision_at_10"] == pytest.approx(every_user["precision"][in_sample].mean(), abs=1e-12)
    assert explicit["ndcg_at_10"] == pytest.approx(every_user["ndcg"][in_sample].mean(), abs=1e-12)
    sampled_lists = full_lists[protocol.eval_users]
    n_train_movies = len(full_protocol.train.movies)
    assert explicit["catalogue_coverage"] == np.unique(sampled_lists[sampled_lists >= 0]).size / n_train_movies
    assert all(r["n_users_evaluated"] == 100 and r["n_users_eligible"] == protocol.n_eligible
               and r["is_user_sample"] for r in table)

    monkeypatch.setattr(ranking_tables, "fit_implicit_als", lambda *a, **k: pytest.fail("implicit ALS refit"))
    movies = protocol.train.movies.ids[:30]
    popular = {"movie_id": movies, "score": np.linspace(4.5, 3.0, movies.size)}
    buckets = ranking_evaluation_by_activity_table(data, sampled_settings, IMPLICIT, "rid", EASE,
                                                   chosen_weight(table), fit, "implicit_als", popular,
                                                   progress=quiet).to_pylist()
    assert all(r["is_user_sample"] for r in buckets)
    assert sum(r["n_users_evaluated"] for r in buckets if r["model"] == "implicit_als") == 100


def test_another_split_gets_its_own_fits(monkeypatch):
    data = split_ratings(seed=4)
    ranking_evaluation_table(data, SETTINGS, IMPLICIT, "rid", EASE, explicit_fits(data), "{}", content(data), progress=quiet)
    other = split_ratings(seed=5)
    monkeypatch.setattr(ranking_tables, "fit_implicit_als", lambda *a, **k: pytest.fail("implicit ALS refit"))
    with pytest.raises(pytest.fail.Exception, match="implicit ALS refit"):
        by_activity(other, explicit_fit(other))


def test_lists_are_computed_once_per_split_and_released_with_it():
    """The cache both engines share (cinemart.evaluation.lists_cache): one computation per key, freed on a new split."""
    from cinemart.evaluation.lists_cache import ListsOnce

    released, computed = [], []
    cache = ListsOnce(release=released.append)

    def compute(value):
        computed.append(value)
        return value

    assert cache.get("split-a", ("implicit_als", "fit-1", 10), lambda: compute("a1")) == "a1"
    assert cache.get("split-a", ("implicit_als", "fit-1", 10), lambda: compute("again")) == "a1"
    assert cache.get("split-a", ("implicit_als", "fit-2", 10), lambda: compute("a2")) == "a2"
    assert computed == ["a1", "a2"] and released == []
    assert cache.get("split-b", ("implicit_als", "fit-1", 10), lambda: compute("b1")) == "b1"
    assert released == ["a1", "a2"] and computed == ["a1", "a2", "b1"]


def oracle_fit(data, part: str) -> ServedFactors:
    """Factors that score 1 exactly on the part's relevant held-out movies: a perfect ranking of that part."""
    protocol = EvaluationProtocol.of(data, SETTINGS, part)
    train = protocol.train
    factors = Factors.unbiased(protocol.relevant.toarray().astype(np.float32), np.eye(len(train.movies), dtype=np.float32))
    return ServedFactors("explicit_als", f"oracle-{part}", train.users, train.movies, factors,
                         np.ones(len(train.movies), dtype=np.int64))


def test_the_served_model_is_chosen_on_validation_and_test_only_reports():
    """A model perfect on the validation fold and random on test is served; one perfect on test alone is not."""
    data = split_ratings(seed=7)
    chosen_on_validation = {r["model"]: r for r in ranking_evaluation_table(
        data, SETTINGS, IMPLICIT, "rid", EASE, {**explicit_fits(data), "validation": oracle_fit(data, "validation")},
        "{}", content(data), progress=quiet).to_pylist() if r["protocol"] == "random"}
    explicit = chosen_on_validation["explicit_als"]
    assert explicit["validation_ndcg_at_10"] == pytest.approx(1.0)
    assert explicit["ndcg_at_10"] < max(r["ndcg_at_10"] for r in chosen_on_validation.values())
    assert explicit["is_served"] and explicit["serves_similarity"]

    seen_on_test = {r["model"]: r for r in ranking_evaluation_table(
        data, SETTINGS, IMPLICIT, "rid", EASE, {**explicit_fits(data), "test": oracle_fit(data, "test")},
        "{}", content(data), progress=quiet).to_pylist() if r["protocol"] == "random"}
    assert seen_on_test["explicit_als"]["ndcg_at_10"] == pytest.approx(1.0)
    assert not seen_on_test["explicit_als"]["is_served"]
    served = [r for r in seen_on_test.values() if r["is_served"]]
    assert len(served) == 1 and served[0]["validation_ndcg_at_10"] == max(
        r["validation_ndcg_at_10"] for r in seen_on_test.values())


def test_every_model_is_judged_under_both_protocols_and_only_random_rows_choose():
    """The temporal protocol fits on the ratings up to the cut and judges those after; its rows never flag."""
    data = split_ratings(seed=8)
    rows = ranking_evaluation_table(data, SETTINGS, IMPLICIT, "rid", EASE, explicit_fits(data), "{}", content(data),
                                    progress=quiet).to_pylist()
    assert sorted((r["model"], r["protocol"]) for r in rows) == sorted(
        (m, p) for m in ("implicit_als", "popularity", "explicit_als", "ease", "ease_implicit_blend")
        for p in ("random", "temporal"))
    temporal = [r for r in rows if r["protocol"] == "temporal"]
    assert not any(r["is_served"] or r["serves_similarity"] for r in temporal)
    assert all(r["validation_ndcg_at_10"] is None and r["n_users_validated"] is None for r in temporal)
    assert sum(r["is_served"] for r in rows) == 1
    # the temporal rows are the test protocol run on the part after the cut
    protocol = EvaluationProtocol.of(data, SETTINGS, "temporal")
    explicit = next(r for r in temporal if r["model"] == "explicit_als")
    lists = protocol.top_k(explicit_fit(data, "temporal").aligned(protocol.train.users, protocol.train.movies), 10)
    assert explicit["ndcg_at_10"] == pytest.approx(ranking_metrics(lists, protocol.relevant).ndcg, abs=1e-12)
    assert explicit["n_users_eligible"] == protocol.n_eligible and explicit["n_cold_start_test_rows"] == protocol.n_cold


def test_past_its_budget_ease_is_judged_on_the_movies_it_keeps_or_skipped_with_the_reason():
    """Nothing is capped silently: a restricted EASE says so in scope; a skipped one has null metrics and the reason."""
    data = split_ratings(seed=9)
    restricted = ease_tables.EaseChoice(EaseParams(50.0), FIT_WORKING_BYTES + 100_000, "ease-run", None)
    rows = {(r["model"], r["protocol"]): r for r in ranking_evaluation_table(
        data, SETTINGS, IMPLICIT, "rid", restricted, explicit_fits(data), "{}", content(data),
        progress=quiet).to_pylist()}
    ease = rows["ease", "random"]
    assert ease["scope"].startswith("restricted to the ") and ease["ndcg_at_10"] is not None
    assert rows["ease_implicit_blend", "random"]["scope"] == f"all movies; EASE half: {ease['scope']}"
    assert rows["implicit_als", "random"]["scope"] == "all movies"

    skipped = ease_tables.EaseChoice(None, 1 << 20, "ease-run", "skipped: even the 2 most-liked of 120 movies need "
                                                                 "128.0 MiB, budget 1.0 MiB")
    rows = ranking_evaluation_table(data, SETTINGS, IMPLICIT, "rid", skipped, explicit_fits(data), "{}",
                                    content(data), progress=quiet).to_pylist()
    for row in rows:
        if row["model"] in ("ease", "ease_implicit_blend"):
            assert row["ndcg_at_10"] is None and row["precision_at_10"] is None and not row["is_served"]
            assert skipped.skipped_reason in row["scope"]
            assert row["protocol"] == "temporal" or row["validation_ndcg_at_10"] is None
        else:
            assert row["ndcg_at_10"] is not None
    assert sum(r["is_served"] for r in rows) == 1
