"""The ranking family and serving, as the warehouse tables they produce.

  implicit_grid_search_table -> implicit_grid_search (NDCG@10 on a validation fold of train; computes the run id)
  implicit_factors_table     -> implicit_factors     (chosen implicit config refit on all clean ratings)
  popularity_factors_table   -> popularity_factors   (the baseline on all clean ratings, its own run id)
  ranking_evaluation_table   -> ranking_evaluation   (implicit ALS, popularity, explicit ALS, EASE and the
                                EASE + implicit ALS blend: chosen on the validation fold of train, judged
                                under the random and temporal protocols)
  serving_settings_table     -> serving_settings     (which model serves what; read by the SQL macros)
  recommendations_table      -> int_user_recommendations (served model, from its factor *table*; the
                                popular_movies fallback for users it cannot personalise)
  (similar movies: cinemart.warehouse.similarity_tables; EASE and the blend's own tables:
   cinemart.warehouse.ease_tables)

Every configuration is fitted once per part: implicit, popularity and EASE here (the blend from
the part's implicit and EASE fits), on train without the validation fold, on train and on the ratings up to the
temporal cut; the explicit model's fits of those parts come from
int_als_factors. The served model is the one with the best
validation NDCG@10: the test part only reports, so the figure it gives is not
chosen on the data it is measured on. Serving reads the
factors back from the warehouse tables rather than from a fitted object, so
the materialized lists and the SQL macros recommend_for / similar_to score from
exactly the same numbers, with the same scorer formula (`cinemart.serving.scoring`).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, NamedTuple

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from cinemart.console import Progress, print_progress
from cinemart.data.ids import IdIndex
from cinemart.data.ratings import VALIDATION_FOLD, IndexedRatings, SplitRatings
from cinemart.evaluation.beyond import BeyondAccuracy, beyond_accuracy
from cinemart.evaluation.lists_cache import ListsOnce
from cinemart.evaluation.ranking import ranking_metrics, relevant_matrix, top_k_matrix
from cinemart.evaluation.users import evaluation_users
from cinemart.models.base import Factors
from cinemart.models.ease import ease_contributions, kept_items
from cinemart.models.blend import BLEND_WEIGHTS, blend, score_scale
from cinemart.models.implicit_als import ImplicitParams, fit_implicit_als, interaction_matrix
from cinemart.models.popularity import POPULAR_MIN_RATING, fit_popularity
from cinemart.serving.explanations import Explanations, because_you_liked
from cinemart.serving.scoring import TopN, top_n
from cinemart.settings import FamilySettings, with_defaults
from cinemart.similarity.content import ContentVectors
from cinemart.tuning.grid import resolve_grid
from cinemart.tuning.implicit import (PRESETS, SAMPLED_DEFAULT_FACTORS, grid_for_feedback, grid_for_strategy,
                                      select_best, tune_implicit, validate_grid)
from cinemart.tuning.plan import TuningPolicy, plan_tuning
from cinemart.validation import require_int
from cinemart.warehouse import ease_tables
from cinemart.warehouse.audit import library_versions, run_id
from cinemart.warehouse.explicit_tables import NOT_BUILT_ON_IMPLICIT
from cinemart.warehouse.factor_tables import ServedFactors, factor_table

TASTE_MODELS = ("implicit_als", "explicit_als")  # factor models whose movie vectors mean "taste"
NON_PERSONAL_MODELS = ("popularity",)  # rank every user by the same scores
#: ranking_evaluation's beyond-accuracy columns (cinemart.evaluation.beyond.BeyondAccuracy's fields).
BEYOND_COLUMNS = tuple(BeyondAccuracy.__dataclass_fields__)
#: The fallback list's name in a `model` column, and its `source` label (as recommend_for labels it).
FALLBACK_MODEL = "popular_movies"
FALLBACK_SOURCE = "popular_fallback"


@dataclass(frozen=True)
class RankingSettings(FamilySettings):
    """The implicit family's and serving's vars, validated before any work starts."""

    similar_min_ratings: int
    eval_max_users: int
    top_n: int = 10  # the product's list length, not a var

    @classmethod
    def from_config(cls, given: Mapping[str, Any]) -> RankingSettings:
        """From dbt vars; what `given` leaves out comes from `cinemart.settings.DEFAULTS`."""
        values = with_defaults(given)
        grid_name, grid = resolve_grid("implicit_grid", values["implicit_grid"], PRESETS)
        validate_grid(grid)
        return cls(grid_name=grid_name, grid=grid,
                   seed=require_int("implicit_seed", values["implicit_seed"], 0),
                   similar_min_ratings=require_int("similar_movies_min_ratings",
                                                   values["similar_movies_min_ratings"], 1),
                   eval_max_users=require_int("ranking_eval_max_users", values["ranking_eval_max_users"], 100),
                   tuning=TuningPolicy.from_config(values))


def _params_json(params: ImplicitParams) -> str:
    return json.dumps(asdict(params), sort_keys=True)


def ranking_run_id(data: SplitRatings, settings: RankingSettings) -> str:
    return run_id("implicit_als", data.fingerprint, asdict(settings))


def implicit_grid_search_table(data: SplitRatings, settings: RankingSettings, progress: Progress = print_progress) -> pa.Table:
    """Tune implicit ALS on train: fit on folds != 0, NDCG@10 on fold 0 (never the test part).

    Past tuning_max_ratings the same is done on a user sample (`cinemart.tuning.plan`), where the default grid
    leaves out its 128-factor points (`grid_for_strategy`).
    """
    plan = plan_tuning(data, settings.tuning, settings.seed)
    train = IndexedRatings.build(data, plan.rows)
    is_validation = data.cv_fold[plan.rows] == VALIDATION_FOLD
    grid = grid_for_feedback(grid_for_strategy(settings.grid_name, settings.grid, plan.strategy), data.implicit,
                             data.counted)
    n_points = len(validate_grid(grid))
    left_out = len(validate_grid(grid_for_feedback(settings.grid, data.implicit, data.counted))) - n_points
    if left_out:
        progress(f"implicit ALS grid search: the default grid's {left_out} points with other factor counts than "
                 f"{', '.join(map(str, SAMPLED_DEFAULT_FACTORS))} are scored only up to tuning_max_ratings "
                 f"({settings.tuning.max_ratings:,} train ratings); left out here")
    progress(f"implicit ALS grid search ({plan.strategy}): {n_points} configurations, validation fold "
             f"{VALIDATION_FOLD} ({int(is_validation.sum()):,} of {train.rating.size:,} train ratings)")
    results = tune_implicit(train.user_idx, train.movie_idx, train.rating, is_validation, len(train.users),
                            len(train.movies), grid, seed=settings.seed, k=settings.top_n, progress=progress,
                            plays=train.play_count)
    best = select_best(results)
    rid = ranking_run_id(data, settings)
    return pa.table({
        "run_id": [rid] * len(results),
        "config_id": list(range(1, len(results) + 1)),
        "factors": [r.params.factors for r in results],
        "regularization": [float(r.params.regularization) for r in results],
        "alpha": [float(r.params.alpha) for r in results],
        "iterations": [r.params.iterations for r in results],
        "confidence": [r.params.confidence for r in results],
        "confidence_threshold": [float(r.params.threshold) for r in results],
        "validation_ndcg_at_10": [r.metrics.ndcg for r in results],
        "validation_precision_at_10": [r.metrics.precision for r in results],
        "fit_seconds": [r.fit_seconds for r in results],
        "is_chosen": [r is best for r in results],
        "grid_name": [settings.grid_name] * len(results),
        "seed": [settings.seed] * len(results),
        "tuning_strategy": ["holdout" if plan.strategy == "kfold" else plan.strategy] * len(results),
        "n_tuning_ratings": [plan.n_ratings] * len(results),
    })


def chosen_params(grid: Mapping[str, np.ndarray]) -> ImplicitParams:
    chosen = np.flatnonzero(np.asarray(grid["is_chosen"], dtype=bool))
    if chosen.size != 1:
        raise ValueError(f"implicit_grid_search must flag exactly one chosen configuration, found {chosen.size}")
    i = int(chosen[0])
    return ImplicitParams(factors=int(grid["factors"][i]), regularization=float(grid["regularization"][i]),
                          alpha=float(grid["alpha"][i]), iterations=int(grid["iterations"][i]),
                          confidence=str(grid["confidence"][i]), threshold=float(grid["confidence_threshold"][i]))


@dataclass(frozen=True)
class EvaluationProtocol:
    """The held-out side of the evaluation protocol, on the fit part's indices (docs/models-and-evaluation.md).

    part: 'test' (fit on train, judged on test), 'validation' (fit on train
    without fold VALIDATION_FOLD, judged on that fold) or 'temporal' (fit on
    the ratings up to the temporal cut, judged on those after); relevant: held-out
    ratings >= 4.0 of users and movies present in the fit part, of the
    evaluated users only; eval_users: the users evaluated, those with at least
    one such rating, or a seeded sample of them past `ranking_eval_max_users`
    (`cinemart.evaluation.users`); n_eligible: users with at least one; seen:
    what each user rated in the fit part (never recommended back); n_cold:
    held-out ratings left out because their user or movie has no rating in
    the fit part (no model can recommend them).
    """

    part: str
    train: IndexedRatings
    relevant: sp.csr_matrix
    eval_users: np.ndarray
    n_eligible: int
    seen: sp.csr_matrix
    n_cold: int

    @classmethod
    def of(cls, data: SplitRatings, settings: RankingSettings, part: str = "test") -> EvaluationProtocol:
        fit_rows, held_out = data.part_rows(part)
        train = IndexedRatings.build(data, fit_rows)
        n_users, n_movies = len(train.users), len(train.movies)
        test_users = train.users.encode(data.user_id[held_out])
        test_movies = train.movies.encode(data.movie_id[held_out])
        warm = (test_users >= 0) & (test_movies >= 0)
        test_ratings = data.rating[held_out]
        relevant = relevant_matrix(test_users[warm], test_movies[warm], test_ratings[warm], n_users, n_movies)
        chosen = evaluation_users(train.users.decode(np.flatnonzero(np.diff(relevant.indptr))),
                                  settings.eval_max_users, settings.seed)
        if chosen.is_sample:
            judged = warm & np.isin(test_users, train.users.encode(chosen.ids))
            relevant = relevant_matrix(test_users[judged], test_movies[judged], test_ratings[judged], n_users,
                                       n_movies)
        seen = interaction_matrix(train.user_idx, train.movie_idx, np.ones(train.rating.size), n_users, n_movies)
        return cls(part, train, relevant, train.users.encode(chosen.ids), chosen.n_eligible, seen,
                   int((~warm).sum()))

    @property
    def is_user_sample(self) -> bool:
        return self.eval_users.size < self.n_eligible

    def top_k(self, factors: Factors, k: int) -> np.ndarray:
        """Every evaluated user's top-k unseen movies by `factors` (the served scorer), as top_k_matrix."""
        recs = top_n(factors, self.seen, self.eval_users, n=k)
        return top_k_matrix(recs.user, recs.rank, recs.item, len(self.train.users), k)


class Candidate(NamedTuple):
    """One ranked model on a protocol's fit part: what ranking_evaluation judges.

    make: fits it (None when EASE's budget skips it); parameters: its JSON;
    fit_key: what identifies the fit (for `evaluation_lists`); scope: which
    movies it can rank (`ease_tables.scope_text` for EASE and the blend).
    """

    name: str
    make: Callable[[], Factors] | None
    parameters: str
    fit_key: str
    scope: str


def train_models(protocol: EvaluationProtocol, settings: RankingSettings, implicit: ImplicitParams,
                 ease: ease_tables.EaseChoice, explicit_fit: ServedFactors | None, explicit_parameters: str,
                 blend_weights: tuple[float, ...]) -> list[Candidate]:
    """Each ranked model on the protocol's fit part; the blend once per weight in `blend_weights`.
    `explicit_fit`: int_als_factors' fit of that part (None on implicit feedback, where it is not built).
    Implicit ALS and EASE are fitted once for the part and shared with the blend."""
    train = protocol.train
    n_users, n_movies = len(train.users), len(train.movies)
    implicit_json = _params_json(implicit)
    implicit_fit = functools.cache(lambda: fit_implicit_als(train.user_idx, train.movie_idx, train.rating, n_users,
                                                            n_movies, implicit, settings.seed, train.play_count))
    ease_fit = functools.cache(lambda: ease_tables.fit_choice(ease, train))
    # the halves' score scales, computed once for every weight the part tries
    scales = functools.cache(lambda: (score_scale(ease_fit().factors), score_scale(implicit_fit())))
    ease_json = ease.parameters
    ease_scope = ease_tables.scope_of(ease, train)
    scope = ease_tables.scope_text(ease_scope) if ease_scope is not None else ease.skipped_reason
    usable = ease_scope is not None and not ease_scope.skipped
    candidates = [
        Candidate("implicit_als", implicit_fit, implicit_json, f"{implicit_json} seed {settings.seed}",
                  ease_tables.FULL_SCOPE),
        Candidate("popularity", lambda: fit_popularity(train.movie_idx, train.rating, n_users, n_movies),
                  json.dumps({"score": f"train ratings >= {POPULAR_MIN_RATING} per movie"}), "popularity",
                  ease_tables.FULL_SCOPE),
        Candidate("explicit_als", None, explicit_parameters, "", NOT_BUILT_ON_IMPLICIT) if explicit_fit is None
        else Candidate("explicit_als", lambda: explicit_fit.aligned(train.users, train.movies), explicit_parameters,
                       explicit_fit.run_id, ease_tables.FULL_SCOPE),
        Candidate(ease_tables.MODEL_NAME, (lambda: ease_fit().factors) if usable else None, ease_json, ease_json,
                  scope),
    ]
    for weight in blend_weights:
        parameters = ease_tables.blend_parameters(weight, ease_json, implicit_json)
        candidates.append(Candidate(
            ease_tables.BLEND_MODEL,
            (lambda w=weight: blend(ease_fit().factors, implicit_fit(), w, scales())[0]) if usable else None,
            parameters, f"{parameters} seed {settings.seed}",
            f"{ease_tables.FULL_SCOPE}; EASE half: {scope}"))
    return candidates


class EvaluatedLists(NamedTuple):
    """A model's lists on a protocol: `top` as top_k_matrix; `personalised`, per user of the fit part, whether
    the model's row for them is not all zero (`Factors.personalised`)."""

    top: np.ndarray
    personalised: np.ndarray


#: The evaluation's lists for the current split (ranking_evaluation and its activity split share them).
ranked_lists: ListsOnce[EvaluatedLists] = ListsOnce()


def evaluation_lists(data: SplitRatings, protocol: EvaluationProtocol, name: str, fit_key: str,
                     make: Callable[[], Factors], k: int) -> EvaluatedLists:
    """Model `name`'s top-k lists on `protocol` (fitted by `make`, identified by `fit_key`), once per split."""
    def compute() -> EvaluatedLists:
        factors = make()
        return EvaluatedLists(protocol.top_k(factors, k), factors.personalised())

    return ranked_lists.get(data.fingerprint, (protocol.part, name, fit_key, k), compute)


def content_of(movies: IdIndex, content: ContentVectors) -> np.ndarray:
    """Each of `movies`' content vector (zeros for a movie the catalogue's content does not hold)."""
    where = content.movies.encode(movies.ids)
    vectors = np.zeros((len(movies), content.vectors.shape[1]), dtype=np.float32)
    vectors[where >= 0] = content.vectors[where[where >= 0]]
    return vectors


def beyond_accuracy_of(protocol: EvaluationProtocol, lists: EvaluatedLists, name: str,
                       content: ContentVectors) -> BeyondAccuracy:
    """`cinemart.evaluation.beyond` on the evaluated users' lists, against the protocol's fit part."""
    train = protocol.train
    users = protocol.eval_users
    return beyond_accuracy(lists.top[users], np.bincount(train.movie_idx, minlength=len(train.movies)),
                           len(train.users), content_of(train.movies, content), lists.personalised[users],
                           personalises=name not in NON_PERSONAL_MODELS)


#: ranking_evaluation's protocols, each the part its test figures come from: the random split's test part and
#: the temporal protocol's part after the cut (docs/models-and-evaluation.md).
PROTOCOL_PARTS = {"random": "test", "temporal": "temporal"}


def ranking_evaluation_table(data: SplitRatings, settings: RankingSettings, implicit: ImplicitParams, rid: str,
                             ease: ease_tables.EaseChoice, explicit_fits: Mapping[str, ServedFactors],
                             explicit_parameters: str, content: ContentVectors,
                             progress: Progress = print_progress) -> pa.Table:
    """Every model fitted on each part (once) and judged by the same protocol and the same scorer.

    One row per model and protocol: 'random' (fit on train, judged on the
    random test part) and 'temporal' (fit on the ratings up to the temporal
    cut, judged on those after it). The validation part (train without the
    validation fold, judged on that fold) chooses: the blend's EASE weight
    (`cinemart.models.blend.BLEND_WEIGHTS`), then the model with the best
    validation NDCG@10 is served and the best taste model defines similarity;
    the flags sit on the random rows, which alone carry the validation
    figures. Test parts only report. The explicit model is not refit here:
    `explicit_fits` holds its fit of each part from int_als_factors
    (`explicit_parameters`: its configuration, for the table); `ease` is
    ease_grid_search's choice. A model EASE's budget skips has a row with
    null metrics and the reason in `scope`. Every protocol's lists are also
    measured beyond accuracy (`cinemart.evaluation.beyond`, on the movies'
    `content` vectors). Held-out ratings of users or movies absent from the
    fit part cannot be recommended by any model and are left out of the
    relevant sets (counted in n_cold_start_test_rows).
    """
    scored: dict[str, dict[str, dict]] = {}
    protocols = {}
    weights = BLEND_WEIGHTS
    for part in ("validation", *PROTOCOL_PARTS.values()):
        protocol = protocols[part] = EvaluationProtocol.of(data, settings, part)
        for model in train_models(protocol, settings, implicit, ease, explicit_fits[part], explicit_parameters,
                                  weights):
            result = _judge(data, protocol, model, content, settings, progress)
            best = scored.setdefault(model.name, {}).get(part)
            if best is None or (result["ndcg"] or 0.0) > (best["ndcg"] or 0.0):  # the blend: best weight wins
                scored[model.name][part] = result
        if part == "validation" and scored[ease_tables.BLEND_MODEL][part]["ndcg"] is not None:
            weights = (ease_tables.blend_weight(scored[ease_tables.BLEND_MODEL][part]["parameters"]),)
    names = list(scored)
    validated = [name for name in names if scored[name]["validation"]["ndcg"] is not None]
    served = max(validated, key=lambda name: scored[name]["validation"]["ndcg"])
    # cosine on popularity's rank-1 factors is 1 for every pair: similarity and
    # explanations come from the best taste model when popularity is served
    taste = max((n for n in validated if n in TASTE_MODELS), key=lambda name: scored[name]["validation"]["ndcg"])
    rows = []
    for protocol_name, part in PROTOCOL_PARTS.items():
        protocol, chooses = protocols[part], protocol_name == "random"
        for name in names:
            result, validation = scored[name][part], scored[name]["validation"]
            rows.append({**result, "model": name, "protocol": protocol_name, "n_eligible": protocol.n_eligible,
                         "is_sample": protocol.is_user_sample, "n_cold": protocol.n_cold,
                         "validation_ndcg": validation["ndcg"] if chooses else None,
                         "validation_precision": validation["precision"] if chooses else None,
                         "n_validated": validation["n_users"] if chooses else None,
                         "is_served": chooses and name == served, "serves_similarity": chooses and name == taste,
                         "seconds": result["seconds"] + (validation["seconds"] if chooses else 0.0)})
    double = pa.float64()
    return pa.table({
        "run_id": [rid] * len(rows),
        "model": [r["model"] for r in rows],
        "protocol": [r["protocol"] for r in rows],
        "scope": [r["scope"] for r in rows],
        "precision_at_10": pa.array([r["precision"] for r in rows], double),
        "recall_at_10": pa.array([r["recall"] for r in rows], double),
        "ndcg_at_10": pa.array([r["ndcg"] for r in rows], double),
        "map_at_10": pa.array([r["map"] for r in rows], double),
        "catalogue_coverage": pa.array([r["coverage"] for r in rows], double),
        **{column: pa.array([r.get(column) for r in rows], double) for column in BEYOND_COLUMNS},
        "n_users_evaluated": pa.array([r["n_users"] for r in rows], pa.int64()),
        "n_users_eligible": [r["n_eligible"] for r in rows],
        "is_user_sample": [r["is_sample"] for r in rows],
        "n_cold_start_test_rows": [r["n_cold"] for r in rows],
        "validation_ndcg_at_10": pa.array([r["validation_ndcg"] for r in rows], double),
        "validation_precision_at_10": pa.array([r["validation_precision"] for r in rows], double),
        "n_users_validated": pa.array([r["n_validated"] for r in rows], pa.int64()),
        "is_served": [r["is_served"] for r in rows],
        "serves_similarity": [r["serves_similarity"] for r in rows],
        "parameters": [r["parameters"] for r in rows],
        "evaluation_seconds": [r["seconds"] for r in rows],
        "library_versions": [library_versions()] * len(rows),
    })


#: A skipped model's metrics (its row says why in `scope`).
_NO_METRICS = dict.fromkeys(("precision", "recall", "ndcg", "map", "coverage", "n_users"))


def _judge(data: SplitRatings, protocol: EvaluationProtocol, model: Candidate, content: ContentVectors,
           settings: RankingSettings, progress: Progress) -> dict:
    """One candidate's metrics on one protocol part (beyond accuracy on the test parts), timed."""
    started = time.perf_counter()
    if model.make is None:
        progress(f"ranking evaluation {model.name} on {protocol.part}: {model.scope}")
        return {"parameters": model.parameters, "scope": model.scope, **_NO_METRICS, "seconds": 0.0}
    lists = evaluation_lists(data, protocol, model.name, model.fit_key, model.make, settings.top_n)
    metrics = ranking_metrics(lists.top, protocol.relevant)
    beyond = beyond_accuracy_of(protocol, lists, model.name, content).as_dict() if protocol.part != "validation" \
        else {}
    seconds = time.perf_counter() - started
    progress(f"ranking evaluation {model.name} on {protocol.part}: precision@10={metrics.precision:.4f} "
             f"ndcg@10={metrics.ndcg:.4f} ({seconds:.1f}s)")
    return {"parameters": model.parameters, "scope": model.scope, **metrics.as_dict(), **beyond, "seconds": seconds}


def implicit_factors_table(data: SplitRatings, settings: RankingSettings, params: ImplicitParams, rid: str,
                           progress: Progress = print_progress) -> pa.Table:
    """The chosen implicit configuration refit on all clean ratings: the factors that are served."""
    started = time.perf_counter()
    everything = IndexedRatings.build(data)
    factors = fit_implicit_als(everything.user_idx, everything.movie_idx, everything.rating, len(everything.users),
                               len(everything.movies), params, settings.seed, everything.play_count)
    progress(f"implicit ALS final refit on all {everything.rating.size:,} ratings in {time.perf_counter() - started:.1f}s")
    return factor_table(rid, everything, factors)


def popularity_factors_table(data: SplitRatings) -> pa.Table:
    """Popularity on all clean ratings, as a factor table with its own run id (data + code, no settings)."""
    everything = IndexedRatings.build(data)
    factors = fit_popularity(everything.movie_idx, everything.rating, len(everything.users), len(everything.movies))
    return factor_table(run_id("popularity", data.fingerprint, {"min_rating": POPULAR_MIN_RATING}), everything, factors)


def flagged_model(evaluation: Mapping[str, np.ndarray], flag: str) -> str:
    """The model ranking_evaluation flags with `flag` (is_served or serves_similarity)."""
    flagged = [str(m) for m, f in zip(evaluation["model"], evaluation[flag]) if f]
    if len(flagged) != 1:
        raise ValueError(f"ranking_evaluation must flag exactly one model {flag}, found {flagged}")
    return flagged[0]


def serving_settings_table(served: ServedFactors, taste: ServedFactors, settings: RankingSettings) -> pa.Table:
    """One row the SQL macros read at query time: which model serves which list, and its settings.

    The macros read these at query time instead of baking them in when they are
    created, which keeps them in step with the build that made the factor tables.
    """
    return pa.table({
        "recommendations_model": [served.model_name],
        "recommendations_run_id": [served.run_id],
        "similar_movies_model": [taste.model_name],
        "similar_movies_run_id": [taste.run_id],
        "similar_movies_min_ratings": pa.array([settings.similar_min_ratings], pa.int64()),
        "top_n": pa.array([settings.top_n], pa.int64()),
    })


def fallback_factors(users: IdIndex, movies: IdIndex, popular: Mapping[str, np.ndarray]) -> Factors:
    """The fallback list as a rank-1 model the scorer ranks: user [1], movie [its score].

    `popular` holds movie_id and score of the listed movies (a
    fit of int_popular_movies on the ratings `movies` indexes). A movie not
    listed (too few ratings) gets item bias -inf: never a candidate, as the
    scorer treats seen movies. Ties go to the lower movie_id, as in the SQL list.
    """
    columns = movies.encode(np.asarray(popular["movie_id"]))
    if (columns < 0).any():
        raise ValueError("int_popular_movies lists movies the factors have no row for; rebuild it with the split")
    score = np.zeros((len(movies), 1))
    score[columns, 0] = np.asarray(popular["score"], dtype=np.float64)
    bias = np.full(len(movies), -np.inf)
    bias[columns] = 0.0
    return Factors(np.ones((len(users), 1)), score, np.zeros(len(users)), bias)


#: Served models explained by EASE's contributions instead of taste cosine.
EASE_EXPLAINED = (ease_tables.MODEL_NAME, ease_tables.BLEND_MODEL)


def ease_explanations(ease: ServedFactors, user_ids: np.ndarray, movie_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per recommended (user_id, movie_id): the liked movie_id with the largest weight in EASE's score of it
    (`ease_contributions`; -1 when none) and that weight (NaN when none). Both engines call this."""
    users, movies = ease.users.encode(np.asarray(user_ids)), ease.movies.encode(np.asarray(movie_ids))
    if (users < 0).any() or (movies < 0).any():
        raise ValueError("the EASE factors do not cover the served model's users and movies; rebuild them")
    factors = ease.factors
    found = ease_contributions(factors.user_factors, factors.item_factors, users, movies,
                               kept_items(factors.item_bias))
    liked = np.full(found.item.shape, -1, np.int64)
    liked[found.item >= 0] = ease.movies.decode(found.item[found.item >= 0])
    return liked, found.contribution


def explain(served: ServedFactors, taste: ServedFactors, ease: ServedFactors | None, ratings: sp.csr_matrix,
            rec_users: np.ndarray, rec_items: np.ndarray) -> Explanations:
    """"Because you liked" for each recommendation: for EASE and the blend, the user's liked movie with the
    largest weight in EASE's score of it (`ease_explanations`); for the others the liked movie most similar
    in `taste` (cosine)."""
    if served.model_name not in EASE_EXPLAINED:
        return because_you_liked(taste.aligned(served.users, served.movies).item_factors, ratings, rec_users,
                                 rec_items)
    if ease is None:
        raise ValueError(f"{served.model_name} is served but the EASE factor table is empty")
    liked, weight = ease_explanations(ease, served.users.decode(rec_users), served.movies.decode(rec_items))
    item = np.full(liked.shape, -1, np.int32)
    item[liked >= 0] = served.movies.encode(liked[liked >= 0])
    return Explanations(item, weight)


def recommendations_table(data: SplitRatings, served: ServedFactors, taste: ServedFactors,
                          ease: ServedFactors | None, popular: Mapping[str, np.ndarray], settings: RankingSettings,
                          progress: Progress = print_progress) -> pa.Table:
    """Top-N unseen movies for every user from `served`, each explained (`explain`: EASE's largest
    contribution for EASE and the blend, else the liked movie most similar in `taste`).

    A user `served` cannot personalise (`Factors.personalised`) gets the top
    of `popular` (int_popular_movies' 'all' fit: the list recommend_for
    serves them), labelled as the fallback and explained by nothing.
    """
    started = time.perf_counter()
    users = served.users.encode(data.user_id)
    movies = served.movies.encode(data.movie_id)
    if (users < 0).any() or (movies < 0).any():
        raise ValueError("served factors do not cover every clean rating; rebuild the factor tables")
    shape = (len(served.users), len(served.movies))
    ratings = sp.csr_matrix((data.rating.astype(np.float32), (users, movies)), shape=shape)
    ratings.sort_indices()
    known = served.factors.personalised()
    recs = top_n(served.factors, ratings, np.flatnonzero(known), n=settings.top_n)
    fallback = top_n(fallback_factors(served.users, served.movies, popular), ratings, np.flatnonzero(~known),
                     n=settings.top_n)
    why = explain(served, taste, ease, ratings, recs.user, recs.item)
    progress(f"recommendations: top-{settings.top_n} for {shape[0]:,} users from {served.model_name} "
             f"({int((~known).sum()):,} it cannot personalise: {FALLBACK_MODEL}) in "
             f"{time.perf_counter() - started:.1f}s")
    both = TopN(*(np.concatenate(pair) for pair in zip(recs, fallback)))
    liked = np.concatenate([why.item, np.full(fallback.user.size, -1, np.int32)])
    similarity = np.concatenate([why.similarity, np.full(fallback.user.size, np.nan, np.float32)])
    return pa.table({
        "user_id": served.users.decode(both.user),
        "rank": both.rank.astype(np.int32),
        "movie_id": served.movies.decode(both.item),
        "score": both.score,
        "because_you_liked_movie_id": pa.array(served.movies.decode(np.maximum(liked, 0)), mask=liked < 0),
        "because_similarity": pa.array(similarity, mask=liked < 0),
        "model": [served.model_name] * recs.user.size + [FALLBACK_MODEL] * fallback.user.size,
        "source": ["personalised"] * recs.user.size + [FALLBACK_SOURCE] * fallback.user.size,
        "run_id": [served.run_id] * both.user.size,
    })
