"""Synthetic MovieLens: a CSV release of any size with a known, planted model.

The real releases stop at 32M ratings and hide their ground truth.  A generated
release lets the warehouse and the models be load-tested at ml-25m scale and
beyond, and lets a fitted model be scored against the best RMSE the data
allows (`achievable_rmse` in synth_manifest.json).

Shape, chosen to look like ml-25m (LensKit's MovieLens data descriptions:
item Gini 0.94, about 5% of catalogue movies never rated, user activity
20 + lognormal with sigma 1.59):

* user activity: every user gets 20 ratings plus a lognormal share of the
  rest, capped at half the catalogue (ml-25m's heaviest user rated ~52%);
* movie popularity: log-weights are exponential (a Pareto body, so most movies
  get a handful of ratings) with a softened head (so the top movie is rated by
  roughly half the users, not all of them); 3% of movies have weight zero and
  stand for MovieLens's tag-only catalogue entries.  Every movie left unrated
  gets one tag, since MovieLens lists a movie only if it was rated or tagged;
* ratings: clip(round_to_half(mu + b_u + b_i + p_u.q_i + noise), 0.5, 5.0).
  The biases are left-skewed (negated gamma) because MovieLens has many
  generous ratings and a tail of harsh raters and bad movies: that is what puts
  the mode at 4.0 while the mean stays near 3.5.

Exposure (which movies a user rates) follows taste as well as popularity,
as in real catalogues, where people watch what they expect to like: a user is
shown movies in proportion to popularity and rates a shown movie with chance
sigmoid(exposure_taste * z), z = p_u.q_i / sqrt(FACTOR_VARIANCE) the planted
affinity in standard units.  So user u's next movie is i with probability
proportional to popularity_i * sigmoid(exposure_taste * z_ui).  z is
symmetric about 0 for every movie, so averaged over users each movie keeps
its popularity share of the draws (sigmoid(x) + sigmoid(-x) = 1); only the
very head changes, since a movie nearly everyone would be shown is rated at
most by those who like it (POPULARITY_LOG_SCALE is set with that cap in
mind).  A user's own ratings lean to the movies they like, which is what lets
collaborative filtering beat popularity on ranking, as it does on real
MovieLens.  exposure_taste = 0 is popularity alone.  Selection also lifts the
mean of the rated pairs' p_u.q_i; the planted intercept is lowered by that
lift (`taste_lift`) so the written ratings keep MovieLens's mean.

Each user's movies are a weighted sample without replacement (successive
sampling).  Most users take the first n distinct accepted movies of a
with-replacement popularity stream (each draw kept with its rating chance),
which is exactly that distribution and vectorizes over a whole block of
users; users for whom such a stream would be too long (heavy raters) or fell
short get exponential-clock top-n over the whole catalogue (the same
distribution again, at a cost of one catalogue pass per user).

Users are generated in fixed blocks of USERS_PER_BLOCK, each block with its
own random stream, and streamed to disk; the same arguments give
byte-identical files on the same platform and numpy version.  The dataset is
written into a scratch folder beside the destination and renamed into place
at the end, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import secrets
import shutil
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from enum import IntEnum
from itertools import compress
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from cinemart.console import ThrottledConsole
from cinemart import __version__

DEFAULT_RATINGS = 25_000_095  # ml-25m
DEFAULT_USERS = 162_541
DEFAULT_MOVIES = 62_423
MANIFEST_NAME = "synth_manifest.json"
_GENERATOR = "cinemart data synth"  # the manifest's mark: what --force may replace

MIN_RATINGS_PER_USER = 20  # as in every MovieLens release
MAX_DENSITY = 0.5  # also the cap on one user's share of the catalogue
MIN_MOVIES = math.ceil(MIN_RATINGS_PER_USER / MAX_DENSITY)
MAX_MOVIES = 9_999_999  # imdbId is written as 7 zero-padded digits
USERS_PER_BLOCK = 1024  # fixed: it keys the random streams, so it is not a knob

# Planted model (see the module docstring for why the biases are skewed).
GLOBAL_MEAN = 3.55  # of the rated pairs, as in MovieLens (see taste_lift)
USER_BIAS_SCALE = 0.65
ITEM_BIAS_SCALE = 0.60
BIAS_SKEW_SHAPE = 0.5  # gamma shape: smaller is more skewed
FACTOR_VARIANCE = 0.25  # variance of p_u.q_i, whatever the rank

# Activity and popularity.
USER_ACTIVITY_SIGMA = 1.59
# With popularity-only exposure 2.6 matches ml-25m; taste caps a
# blockbuster at the users who like it, and 2.9 restores ml-25m's head
# (top movie rated by ~50% of users, Gini ~0.93 at 25M).
POPULARITY_LOG_SCALE = 2.9
POPULARITY_HEAD_KNEE = 3.5  # in exponential quantile units (~97th percentile)
POPULARITY_HEAD_SLOPE = 0.2
TAG_ONLY_FRACTION = 0.03

# Exposure: a shown movie is rated with chance sigmoid(EXPOSURE_TASTE * z),
# z the planted affinity in standard units (see the module docstring).
# Calibrated so that implicit ALS beats popularity on synthetic data by about
# the margin it has on real MovieLens (docs/large-datasets.md).
EXPOSURE_TASTE = 8.0
_TASTE_QUADRATURE_NODES = 9  # for the expected distinct count under taste

# A user whose with-replacement stream would need more than this many kept
# draws per distinct movie is sampled by exponential clocks over the catalogue.
HEAVY_DRAW_RATIO = 4.0
_DISTINCT_GRID_POINTS = 256

# Unix seconds: the first MovieLens rating (1995-01-09) to the end of 2023.
FIRST_TIMESTAMP = 789_652_009
LAST_TIMESTAMP = 1_704_067_199
MEDIAN_ACTIVE_SPAN = 86_400  # most users rate in one sitting...
ACTIVE_SPAN_SIGMA = 3.0  # ...a few over years
TAG_RATE = 0.01
TAG_DELAY_MAX = 3_600

FIRST_YEAR = 1902
LAST_YEAR = 2023
YEAR_AGE_SCALE = 18.0
COMMA_TITLE_FRACTION = 0.03
QUOTED_TITLE_FRACTION = 0.005
NO_GENRE_FRACTION = 0.03
EXTRA_GENRES_MEAN = 0.87  # ml-25m averages ~1.87 genres per movie
MISSING_TMDB_FRACTION = 0.01
TMDB_ID_STEP = 16

# Approximate ml-25m genre frequencies; alphabetical, as MovieLens lists them.
GENRE_FREQUENCIES: dict[str, int] = {
    "Action": 7348, "Adventure": 4145, "Animation": 2929, "Children": 2935, "Comedy": 16870,
    "Crime": 5319, "Documentary": 5605, "Drama": 25606, "Fantasy": 2731, "Film-Noir": 353,
    "Horror": 5989, "IMAX": 195, "Musical": 1054, "Mystery": 2925, "Romance": 7719,
    "Sci-Fi": 3595, "Thriller": 8654, "War": 1874, "Western": 1399,
}  # fmt: skip
NO_GENRES = "(no genres listed)"
TAG_VOCABULARY = (
    "atmospheric", "twist ending", "funny", "dark comedy", "visually appealing", "based on a book",
    "thought-provoking", "sci-fi", "classic", "overrated", "underrated", "great soundtrack",
    "slow", "predictable", "quirky", "stylized", "nonlinear", "dystopia", "cult film", "boring",
    "dark, gritty", 'the "director\'s cut" is better', "BD-R", "family", "surreal",
)  # fmt: skip

RATING_LABELS = pa.array([f"{half / 2:.1f}" for half in range(1, 11)])
_RATINGS_HEADER = b"userId,movieId,rating,timestamp\n"
_RATINGS_SCHEMA = pa.schema(
    [("userId", pa.int64()), ("movieId", pa.int64()), ("rating", pa.string()), ("timestamp", pa.int64())]
)
_RATINGS_CSV = pacsv.WriteOptions(include_header=False, quoting_style="none")


class SynthError(ValueError):
    """The requested synthetic dataset cannot be generated (bad sizes, occupied destination)."""


class _Stream(IntEnum):
    """Independent random streams, so adding a column to one file does not
    reshuffle every other file."""

    USERS = 0
    POPULARITY = 1
    PLANTED = 2
    MOVIES = 3
    LINKS = 4
    UNRATED_TAGS = 5
    BLOCK = 6


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _require_int(name: str, value: object, minimum: int = 1) -> None:
    # bool is an int subclass; users=True is a bug, not one user.
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise SynthError(f"{name} must be an integer >= {minimum:,}, got {value!r}")


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; validated on construction so a bad request fails
    before anything touches the disk."""

    ratings: int = DEFAULT_RATINGS
    users: int = DEFAULT_USERS
    movies: int = DEFAULT_MOVIES
    seed: int = 0
    rank: int = 10
    noise_std: float = 0.5
    exposure_taste: float = EXPOSURE_TASTE

    def __post_init__(self) -> None:
        _require_int("ratings", self.ratings)
        _require_int("users", self.users)
        _require_int("movies", self.movies, MIN_MOVIES)
        if self.movies > MAX_MOVIES:
            raise SynthError(f"movies must be at most {MAX_MOVIES:,} (imdbId has 7 digits), got {self.movies:,}")
        least = MIN_RATINGS_PER_USER * self.users
        if self.ratings < least:
            raise SynthError(
                f"ratings ({self.ratings:,}) must be at least {MIN_RATINGS_PER_USER} x users ({least:,}): "
                f"every MovieLens user has at least {MIN_RATINGS_PER_USER} ratings"
            )
        most = int(self.users * self.movies * MAX_DENSITY)
        if self.ratings > most:
            raise SynthError(
                f"ratings ({self.ratings:,}) must be at most users x movies / 2 ({most:,}): "
                "denser than that is nothing like MovieLens"
            )
        _require_int("seed", self.seed, 0)
        _require_int("rank", self.rank)
        for name in ("noise_std", "exposure_taste"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SynthError(f"{name} must be a finite number >= 0, got {value!r}")

    @classmethod
    def scaled(cls, ratings: int, *, users: int | None = None, movies: int | None = None, **rest) -> "SynthConfig":
        """`ratings` with the sizes not given scaled in ml-25m's proportions.

        A user asking for "a million ratings" means a smaller ml-25m, not ml-25m's
        162,541 users sharing a million ratings (fewer than the 20 each needs).
        Scaled sizes are then nudged into the valid range: at most ratings / 20
        users, at least MIN_MOVIES movies and enough of them for MAX_DENSITY.
        """
        _require_int("ratings", ratings)
        if users is None:
            users = min(max(1, round(ratings * DEFAULT_USERS / DEFAULT_RATINGS)),
                        max(1, ratings // MIN_RATINGS_PER_USER))
        if movies is None and isinstance(users, int) and users >= 1:
            movies = max(MIN_MOVIES, round(ratings * DEFAULT_MOVIES / DEFAULT_RATINGS),
                         math.ceil(ratings / (users * MAX_DENSITY)))
        return cls(ratings=ratings, users=users, movies=DEFAULT_MOVIES if movies is None else movies, **rest)

    @property
    def max_ratings_per_user(self) -> int:
        return math.ceil(self.movies * MAX_DENSITY)

    @property
    def factor_scale(self) -> float:
        """Std of each factor entry, so that p_u.q_i has FACTOR_VARIANCE at any rank."""
        return (FACTOR_VARIANCE / self.rank) ** 0.25


@dataclass(frozen=True)
class PlantedModel:
    """The model the ratings were drawn from; indices are 0-based (id - 1)."""

    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray

    def predict(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """Noiseless ratings clipped to the scale: the best a model can know,
        so its RMSE against the written ratings is the floor to compare with."""
        scores = np.einsum("ij,ij->i", self.user_factors[users], self.item_factors[movies])
        scores += self.global_mean + self.user_bias[users] + self.item_bias[movies]
        return np.clip(scores, 0.5, 5.0)


def planted_model(config: SynthConfig) -> PlantedModel:
    """Rebuild the planted model of `config` (the `config` of a manifest)."""
    rng = _rng(config.seed, _Stream.PLANTED)
    scale = config.factor_scale
    return PlantedModel(
        global_mean=GLOBAL_MEAN - taste_lift(config.exposure_taste),
        user_bias=USER_BIAS_SCALE * _left_skewed(rng, config.users),
        item_bias=ITEM_BIAS_SCALE * _left_skewed(rng, config.movies),
        user_factors=rng.normal(0.0, scale, (config.users, config.rank)),
        item_factors=rng.normal(0.0, scale, (config.movies, config.rank)),
    )


def taste_lift(strength: float) -> float:
    """How much higher p_u.q_i is on average over rated pairs than over all
    pairs, when exposure has taste `strength`: E[z | rated] * sqrt(FACTOR_VARIANCE)
    with z ~ N(0, 1) kept with chance sigmoid(strength * z).  People rate what
    they expect to like, so the rated pairs' mean sits above the mean over all
    pairs; the planted intercept is lowered by this much so the written ratings
    keep MovieLens's mean (GLOBAL_MEAN) at any strength."""
    z = np.linspace(-8.0, 8.0, 4001)
    kept = np.exp(-0.5 * z * z) * _sigmoid(strength * z)
    return float((z * kept).sum() / kept.sum()) * math.sqrt(FACTOR_VARIANCE)


def _left_skewed(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero mean, unit variance, long tail to the left."""
    draws = rng.gamma(BIAS_SKEW_SHAPE, size=size)
    return (BIAS_SKEW_SHAPE - draws) / math.sqrt(BIAS_SKEW_SHAPE)


@dataclass(frozen=True)
class SynthProgress:
    users_done: int
    users_total: int
    ratings_done: int
    ratings_total: int


ProgressCallback = Callable[[SynthProgress], None]


class ConsoleProgress(ThrottledConsole):
    """Users and ratings done, elapsed and ETA; the clock starts when the run does."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.start()

    def __call__(self, progress: SynthProgress) -> None:
        finished = progress.users_done >= progress.users_total
        elapsed = self.due(finished)
        if elapsed is None:
            return
        if finished:
            line = f"synth: {progress.users_total:,} users, {progress.ratings_done:,} ratings in {_clock(elapsed)}"
        else:
            done = progress.ratings_done / progress.ratings_total
            eta = elapsed * (1 - done) / done if done else math.inf
            line = (
                f"synth: users {progress.users_done:,}/{progress.users_total:,}, "
                f"{progress.ratings_done:,} ratings ({100 * done:.1f}%), "
                f"elapsed {_clock(elapsed)}, ETA {_clock(eta)}"
            )
        self.emit(line, final=finished)


def _clock(seconds: float) -> str:
    return "?" if not math.isfinite(seconds) else str(dt.timedelta(seconds=int(seconds)))


def synthesize(
    config: SynthConfig,
    out: str | Path,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
) -> dict[str, object]:
    """Write a MovieLens CSV release into `out` and return its manifest.

    `out` must be absent or empty; with `force` it may also hold an earlier
    synthetic release (its manifest says so), which is then replaced. Either
    way it ends up holding the previous contents or the complete new dataset,
    never a mix. Anything else (a downloaded release, a home folder) is never
    deleted: `--out data --force` must not wipe the real datasets.
    """
    out = Path(out).resolve()
    _check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = _scratch_folder(out, ".partial")
    try:
        manifest = _write_dataset(config, staging, progress)
        _check_destination(out, force)  # something may have landed there meanwhile
        _publish(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # nothing left after a successful rename
    return manifest


def _check_destination(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise SynthError(f"{out} exists and is not a directory")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not is_synthetic_release(out):
        raise SynthError(f"{out} is not empty and holds no {MANIFEST_NAME}, so it is not an earlier synthetic "
                         "release; --force replaces only those: choose another --out")
    if not force:
        raise SynthError(f"{out} holds an earlier synthetic release; pass --force to replace it")


def is_synthetic_release(folder: Path) -> bool:
    """True if `folder` holds a manifest this generator wrote (the only folders --force may replace)."""
    try:
        manifest = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("generator") == _GENERATOR


def _scratch_folder(out: Path, suffix: str) -> Path:
    """A new hidden folder beside `out` (same filesystem, so renames are
    atomic), with the umask's permissions rather than mkdtemp's 0700, which
    would otherwise become the published dataset's."""
    folder = out.with_name(f".{out.name}.{secrets.token_hex(6)}{suffix}")
    folder.mkdir()
    return folder


def _publish(staging: Path, out: Path) -> None:
    """Swap the finished dataset into place; an old one is moved aside first,
    put back if the swap fails, and deleted only once the new one is there."""
    if not out.is_dir():
        staging.rename(out)
        return
    retired = _scratch_folder(out, ".old")
    previous = retired / out.name
    out.rename(previous)
    try:
        staging.rename(out)
    except BaseException:
        previous.rename(out)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


# ------------------------------------------------------------------ users


@dataclass(frozen=True)
class _Users:
    counts: np.ndarray  # ratings per user
    first_seen: np.ndarray  # Unix seconds
    active_span: np.ndarray  # seconds

    def moments(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """A random Unix second in each listed user's active window."""
        return self.first_seen[users] + (rng.random(users.size) * self.active_span[users]).astype(np.int64)


def _users(config: SynthConfig) -> _Users:
    rng = _rng(config.seed, _Stream.USERS)
    extra = _apportion(
        config.ratings - MIN_RATINGS_PER_USER * config.users,
        rng.lognormal(0.0, USER_ACTIVITY_SIGMA, config.users),
        config.max_ratings_per_user - MIN_RATINGS_PER_USER,
    )
    window = LAST_TIMESTAMP - FIRST_TIMESTAMP
    span = np.minimum(rng.lognormal(math.log(MEDIAN_ACTIVE_SPAN), ACTIVE_SPAN_SIGMA, config.users), window)
    first_seen = FIRST_TIMESTAMP + rng.random(config.users) * (window - span)
    return _Users(MIN_RATINGS_PER_USER + extra, first_seen.astype(np.int64), span)


def _apportion(total: int, weights: np.ndarray, cap: int) -> np.ndarray:
    """Integers proportional to `weights`, none above `cap`, summing exactly to
    `total` (water-filling: what capped entries cannot take flows to the rest;
    the caller guarantees total <= cap * len(weights))."""
    capped = np.zeros(weights.size, dtype=bool)
    scale = 0.0
    while not capped.all():
        scale = (total - cap * np.count_nonzero(capped)) / weights[~capped].sum()
        over = ~capped & (weights * scale > cap)
        if not over.any():
            break
        capped |= over
    ideal = np.where(capped, cap, weights * scale)
    counts = np.floor(ideal).astype(np.int64)
    by_remainder = np.argsort(counts - ideal, kind="stable")
    by_remainder = by_remainder[counts[by_remainder] < cap]
    counts[by_remainder[: total - int(counts.sum())]] += 1
    return counts


# ------------------------------------------------------------------ movies


def _popularity(config: SynthConfig) -> np.ndarray:
    """Sampling weight per movie; zero marks a tag-only movie."""
    rng = _rng(config.seed, _Stream.POPULARITY)
    level = rng.standard_exponential(config.movies)
    head = level > POPULARITY_HEAD_KNEE
    level[head] = POPULARITY_HEAD_KNEE + POPULARITY_HEAD_SLOPE * (level[head] - POPULARITY_HEAD_KNEE)
    weights = np.exp(POPULARITY_LOG_SCALE * (level - level.max()))
    tag_only = rng.choice(config.movies, size=round(TAG_ONLY_FRACTION * config.movies), replace=False)
    weights[tag_only] = 0.0
    return weights


@dataclass(frozen=True)
class _Taste:
    """The chance that a user rates a movie shown to them, sigmoid(strength * z)
    with z = p_u.q_i / sqrt(FACTOR_VARIANCE): the exposure half of the planted
    model (module docstring).

    The factors are kept transposed, in float32, with the users' pre-scaled by
    strength / sqrt(FACTOR_VARIANCE) so a dot product is the logit: the chance
    of every proposed movie is the generator's hottest loop, and a column at a
    time over contiguous rows is about twice as fast as gathering whole rows.
    The chance only decides a coin flip, so float32 loses nothing."""

    strength: float
    user_columns: np.ndarray  # rank x users
    item_columns: np.ndarray  # rank x movies

    @classmethod
    def planted(cls, model: PlantedModel, strength: float) -> "_Taste":
        users = model.user_factors.T * (strength / math.sqrt(FACTOR_VARIANCE))
        return cls(strength, np.ascontiguousarray(users, np.float32),
                   np.ascontiguousarray(model.item_factors.T, np.float32))

    def chance(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """Per (user, movie) pair, 0-based global indices."""
        logit = np.zeros(users.size, dtype=np.float32)
        for user_column, item_column in zip(self.user_columns, self.item_columns):
            logit += user_column[users] * item_column[movies]
        return _sigmoid(logit)

    def chances(self, user: int) -> np.ndarray:
        """One user's chance for every movie in the catalogue."""
        return _sigmoid(self.user_columns[:, user] @ self.item_columns)


def _alias_table(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction) for drawing by `weights`:
    column i keeps its own movie with the returned chance, else gives
    alias[i].  A zero-weight movie is never drawn."""
    size = weights.size
    chance = (weights * (size / weights.sum())).tolist()
    alias = list(range(size))
    small = [i for i, c in enumerate(chance) if c < 1.0]
    large = [i for i, c in enumerate(chance) if c >= 1.0]
    while small and large:
        light, heavy = small.pop(), large[-1]
        alias[light] = heavy
        chance[heavy] += chance[light] - 1.0
        if chance[heavy] < 1.0:
            small.append(large.pop())
    for leftover in small + large:  # ~1 up to rounding
        chance[leftover] = 1.0
    chance, alias = np.array(chance), np.array(alias, dtype=np.int64)
    # Rounding must not let a zero-weight (tag-only) movie keep its column.
    unused = weights == 0
    chance[unused] = 0.0
    alias[unused & (alias == np.arange(size))] = int(np.argmax(weights))
    return chance, alias


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 + 0.5 * np.tanh(0.5 * x)  # no overflow warnings for large |x|


class _MovieSampler:
    """Distinct movies per user, drawn without replacement with weights
    popularity (x the user's taste chance, if a `taste` is given)."""

    def __init__(self, weights: np.ndarray, max_count: int, taste: _Taste | None = None) -> None:
        self._movies = weights.size
        self._weights = weights
        self._alias_chance, self._alias = _alias_table(weights)
        self._taste = taste
        # Expected distinct movies after t draws, sum(1 - exp(-t p a)) with a
        # the chance a draw is kept, averaged over z ~ N(0, 1) by quadrature
        # (a = 1 without taste): a slight underestimate of the exact
        # sum(1 - (1 - p a)^t), so budgets err long.
        # Movies of nearly equal weight are counted together (1/64 of a unit
        # of log weight apart at most), which keeps this cheap at any size.
        p = weights[weights > 0] / weights.sum()
        _, group, members = np.unique(np.rint(64 * np.log(p)), return_inverse=True, return_counts=True)
        p = np.bincount(group, p) / members
        # Half of all draws are kept under any taste (z is symmetric), so a
        # stream's length is judged in kept draws.
        self._keep_rate = 1.0 if taste is None else 0.5
        if taste is None:
            kept, share = np.ones(1), np.ones(1)
        else:
            nodes, share = np.polynomial.hermite_e.hermegauss(_TASTE_QUADRATURE_NODES)
            kept, share = _sigmoid(taste.strength * nodes), share / share.sum()
        longest = HEAVY_DRAW_RATIO * max_count / self._keep_rate
        self._log_draws = np.linspace(0.0, math.log(longest + 1), _DISTINCT_GRID_POINTS)
        self._distinct = np.array([
            sum(weight * (members * -np.expm1(-math.exp(t) * a * p)).sum() for a, weight in zip(kept, share))
            for t in self._log_draws
        ])

    def sample(self, rng: np.random.Generator, counts: np.ndarray, first: int = 0) -> np.ndarray:
        """Sorted keys user * movies + movie (user local to the block, whose
        first user is global index `first`), `counts[user]` movies per user."""
        # Aim four standard deviations past the count (the distinct count's
        # variance is below its mean), so a stream rarely falls short.
        target = counts + 4.0 * np.sqrt(counts) + 4.0
        draws = np.ceil(np.exp(np.interp(target, self._distinct, self._log_draws))).astype(np.int64)
        draws[draws * self._keep_rate > HEAVY_DRAW_RATIO * counts] = 0
        keys, short = self._first_distinct(rng, counts, draws, first)
        heavy = [
            user * self._movies + self._earliest(rng, int(counts[user]), first + int(user))
            for user in np.flatnonzero(short)
        ]
        return np.sort(np.concatenate([keys, *heavy]))

    def _first_distinct(
        self, rng: np.random.Generator, counts: np.ndarray, draws: np.ndarray, first: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """First `counts[u]` distinct kept movies of a `draws[u]`-long
        popularity stream per user, and which users' streams held fewer
        (dropped, at the cost of a tiny conditioning bias: it happens to
        about 0.1% of the users in a full ml-25m-size run)."""
        owners = np.repeat(np.arange(counts.size, dtype=np.int64), draws)
        movies = self._draw(rng, owners.size)
        if self._taste is not None:
            rated = rng.random(owners.size) < self._taste.chance(first + owners, movies)
            owners, movies = owners[rated], movies[rated]
        pairs, first_draw = np.unique(owners * self._movies + movies, return_index=True)
        in_draw_order = np.argsort(first_draw)  # grouped by user: the stream is laid out user by user
        owner = pairs[in_draw_order] // self._movies
        position = np.arange(owner.size) - np.searchsorted(owner, owner)
        kept = position < counts[owner]
        short = np.bincount(owner[kept], minlength=counts.size) < counts
        kept &= ~short[owner]
        return pairs[in_draw_order[kept]], short

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """`size` movies drawn with replacement by weight (Walker's alias
        method: one uniform picks a column and, by its fraction, the column's
        movie or its alias; several times faster than a CDF search)."""
        spot = rng.random(size) * self._movies
        column = np.minimum(spot.astype(np.int64), self._movies - 1)  # random() * n may round up to n
        return np.where(spot - column < self._alias_chance[column], column, self._alias[column])

    def _earliest(self, rng: np.random.Generator, count: int, user: int = 0) -> np.ndarray:
        """The `count` movies whose exponential clocks (rate = weight) ring
        first: a successive sample at one catalogue pass, for heavy users
        (`user` is global, for the taste chances)."""
        rates = self._weights if self._taste is None else self._weights * self._taste.chances(user)
        with np.errstate(divide="ignore"):
            arrival = rng.standard_exponential(self._movies) / rates  # inf for tag-only movies: never chosen
        return np.argpartition(arrival, count - 1)[:count]


# ------------------------------------------------------------------ writing


@dataclass
class _RatingStats:
    """Running totals for the manifest, kept per block so memory stays flat."""

    movie_ratings: np.ndarray
    halfstar_counts: np.ndarray
    squared_error: float = 0.0
    ratings: int = 0

    def add(self, movies: np.ndarray, halfstars: np.ndarray, floor_prediction: np.ndarray) -> None:
        self.movie_ratings += np.bincount(movies, minlength=self.movie_ratings.size)
        self.halfstar_counts += np.bincount(halfstars, minlength=11)[1:]
        self.squared_error += float(np.square(floor_prediction - halfstars / 2).sum())
        self.ratings += movies.size


@dataclass(frozen=True)
class _Tags:
    """Tag rows, 0-based ids; `words` index TAG_VOCABULARY."""

    users: np.ndarray
    movies: np.ndarray
    words: np.ndarray
    timestamps: np.ndarray


_TAG_COLUMNS = [field.name for field in fields(_Tags)]


def _write_dataset(config: SynthConfig, folder: Path, progress: ProgressCallback | None) -> dict[str, object]:
    users = _users(config)
    model = planted_model(config)
    taste = _Taste.planted(model, config.exposure_taste) if config.exposure_taste > 0 else None
    sampler = _MovieSampler(_popularity(config), config.max_ratings_per_user, taste)
    stats = _RatingStats(np.zeros(config.movies, dtype=np.int64), np.zeros(10, dtype=np.int64))
    tags: list[_Tags] = []  # ~1% of the ratings: small enough to sort once at the end
    with pa.OSFile(str(folder / "ratings.csv"), "wb") as sink:
        sink.write(_RATINGS_HEADER)
        with pacsv.CSVWriter(sink, _RATINGS_SCHEMA, write_options=_RATINGS_CSV) as ratings_out:
            for block, first in enumerate(range(0, config.users, USERS_PER_BLOCK)):
                last = min(first + USERS_PER_BLOCK, config.users)
                rng = _rng(config.seed, _Stream.BLOCK, block)
                keys = sampler.sample(rng, users.counts[first:last], first)
                user, movie = first + keys // config.movies, keys % config.movies
                prediction = model.predict(user, movie)
                noisy = prediction + rng.normal(0.0, config.noise_std, user.size)
                halfstars = np.clip(np.rint(2 * noisy), 1, 10).astype(np.int64)
                timestamps = users.moments(rng, user)
                ratings_out.write_table(
                    pa.table(
                        [user + 1, movie + 1, RATING_LABELS.take(halfstars - 1), timestamps], schema=_RATINGS_SCHEMA
                    )
                )
                stats.add(movie, halfstars, prediction)
                tags.append(_rating_tags(rng, user, movie, timestamps))
                if progress is not None:
                    progress(SynthProgress(last, config.users, stats.ratings, config.ratings))
    tags.append(_unrated_movie_tags(config, np.flatnonzero(stats.movie_ratings == 0), users))
    tag_count = _write_tags(folder / "tags.csv", tags)
    _write_movies(folder / "movies.csv", config)
    missing_tmdb = _write_links(folder / "links.csv", config)
    manifest = _manifest(config, stats, users.counts, tag_count, missing_tmdb)
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _rating_tags(rng: np.random.Generator, users: np.ndarray, movies: np.ndarray, timestamps: np.ndarray) -> _Tags:
    """Tags on a random TAG_RATE of some ratings, applied a while after rating;
    at most one per (user, movie), so no tag row is a duplicate."""
    tagged = np.flatnonzero(rng.random(users.size) < TAG_RATE)
    words = rng.integers(0, len(TAG_VOCABULARY), tagged.size)
    delay = rng.integers(0, TAG_DELAY_MAX, tagged.size)
    when = np.minimum(timestamps[tagged] + delay, LAST_TIMESTAMP)
    return _Tags(users[tagged], movies[tagged], words, when)


def _unrated_movie_tags(config: SynthConfig, movies: np.ndarray, users: _Users) -> _Tags:
    """One tag for each movie nobody rated: MovieLens lists a movie only if it
    has a rating or a tag."""
    rng = _rng(config.seed, _Stream.UNRATED_TAGS)
    taggers = rng.integers(0, config.users, movies.size)
    words = rng.integers(0, len(TAG_VOCABULARY), movies.size)
    return _Tags(taggers, movies, words, users.moments(rng, taggers))


def _write_tags(path: Path, parts: list[_Tags]) -> int:
    user, movie, word, when = (np.concatenate([getattr(part, name) for part in parts]) for name in _TAG_COLUMNS)
    order = np.lexsort((movie, user))
    with path.open("w", newline="", encoding="utf-8") as stream:
        out = _csv_writer(stream)
        out.writerow(["userId", "movieId", "tag", "timestamp"])
        out.writerows(
            zip(
                (user[order] + 1).tolist(),
                (movie[order] + 1).tolist(),
                [TAG_VOCABULARY[i] for i in word[order]],
                when[order].tolist(),
            )
        )
    return int(order.size)


class _RowWriter(Protocol):
    def writerow(self, row: Iterable[object], /) -> object: ...

    def writerows(self, rows: Iterable[Iterable[object]], /) -> None: ...


def _csv_writer(stream: TextIO) -> _RowWriter:
    # Minimal quoting, LF endings: quotes appear only around commas and quotes, as in MovieLens.
    return csv.writer(stream, lineterminator="\n")


def _write_movies(path: Path, config: SynthConfig) -> None:
    rng = _rng(config.seed, _Stream.MOVIES)
    ids = np.arange(1, config.movies + 1)
    years = np.clip(LAST_YEAR - np.floor(rng.exponential(YEAR_AGE_SCALE, config.movies)), FIRST_YEAR, LAST_YEAR)
    style = rng.random(config.movies)
    genres = _genres(rng, config.movies)
    with path.open("w", newline="", encoding="utf-8") as stream:
        out = _csv_writer(stream)
        out.writerow(["movieId", "title", "genres"])
        for movie_id, year, kind, genre in zip(ids.tolist(), years.astype(int).tolist(), style.tolist(), genres):
            if kind < COMMA_TITLE_FRACTION:  # like "American President, The (1995)"
                title = f"Synthetic Movie {movie_id}, The ({year})"
            elif kind < COMMA_TITLE_FRACTION + QUOTED_TITLE_FRACTION:  # like '"Great Performances" Cats (1998)'
                title = f'"Synthetic" Movie {movie_id} ({year})'
            else:
                title = f"Synthetic Movie {movie_id} ({year})"
            out.writerow([movie_id, title, genre])


def _genres(rng: np.random.Generator, movies: int) -> list[str]:
    """1 + Poisson distinct genres per movie, weighted like ml-25m (Gumbel
    top-k over the 19 genres), a few movies with none."""
    names = list(GENRE_FREQUENCIES)
    log_weight = np.log(np.fromiter(GENRE_FREQUENCIES.values(), dtype=float))
    keys = log_weight + rng.gumbel(size=(movies, len(names)))
    how_many = np.minimum(1 + rng.poisson(EXTRA_GENRES_MEAN, movies), len(names))
    chosen = np.argsort(np.argsort(-keys, axis=1), axis=1) < how_many[:, None]
    none = rng.random(movies) < NO_GENRE_FRACTION
    return [NO_GENRES if empty else "|".join(compress(names, row)) for empty, row in zip(none, chosen.tolist())]


def _write_links(path: Path, config: SynthConfig) -> int:
    """Distinct increasing imdbIds (7 digits, zero-padded) and tmdbIds, some
    tmdbIds empty as in MovieLens; returns how many are empty."""
    rng = _rng(config.seed, _Stream.LINKS)
    base = np.arange(config.movies, dtype=np.int64)
    imdb_step = MAX_MOVIES // config.movies
    imdb = base * imdb_step + 1 + rng.integers(0, imdb_step, config.movies)
    tmdb = base * TMDB_ID_STEP + 1 + rng.integers(0, TMDB_ID_STEP, config.movies)
    missing = rng.random(config.movies) < MISSING_TMDB_FRACTION
    with path.open("w", newline="", encoding="utf-8") as stream:
        out = _csv_writer(stream)
        out.writerow(["movieId", "imdbId", "tmdbId"])
        out.writerows(
            (movie_id, f"{imdb_id:07d}", "" if gap else tmdb_id)
            for movie_id, imdb_id, tmdb_id, gap in zip(
                (base + 1).tolist(), imdb.tolist(), tmdb.tolist(), missing.tolist()
            )
        )
    return int(missing.sum())


def _manifest(
    config: SynthConfig, stats: _RatingStats, user_counts: np.ndarray, tags: int, missing_tmdb: int
) -> dict[str, object]:
    halfstars = stats.halfstar_counts
    popular_first = np.sort(stats.movie_ratings)[::-1]
    top_percent = max(1, config.movies // 100)
    return {
        "generator": _GENERATOR,
        "cinemart_version": __version__,
        "config": asdict(config),
        "users_per_block": USERS_PER_BLOCK,
        "planted": {
            "rank": config.rank,
            "noise_std": config.noise_std,
            "global_mean": GLOBAL_MEAN - taste_lift(config.exposure_taste),
            "taste_lift": taste_lift(config.exposure_taste),
            "user_bias_scale": USER_BIAS_SCALE,
            "item_bias_scale": ITEM_BIAS_SCALE,
            "bias_skew_gamma_shape": BIAS_SKEW_SHAPE,
            "factor_scale": config.factor_scale,
            "factor_variance": FACTOR_VARIANCE,
        },
        "exposure": {
            "model": "user u's next rated movie is i with probability proportional to "
                     "popularity_i * sigmoid(taste * z_ui), without replacement; "
                     "z_ui = p_u.q_i / sqrt(factor_variance)",
            "taste": config.exposure_taste,
            "popularity": "exp(log_scale * (level - max level)), level ~ Exponential(1) softened above "
                          "head_knee by head_slope; tag-only movies have popularity 0",
            "popularity_log_scale": POPULARITY_LOG_SCALE,
            "popularity_head_knee": POPULARITY_HEAD_KNEE,
            "popularity_head_slope": POPULARITY_HEAD_SLOPE,
            "tag_only_fraction": TAG_ONLY_FRACTION,
        },
        # RMSE of the noiseless planted prediction against the written ratings.
        "achievable_rmse": math.sqrt(stats.squared_error / stats.ratings),
        "counts": {
            "ratings": stats.ratings,
            "users": config.users,
            "movies": config.movies,
            "rated_movies": int(np.count_nonzero(stats.movie_ratings)),
            "tags": tags,
            "links": config.movies,
            "links_without_tmdb": missing_tmdb,
        },
        "rating_mean": float((halfstars * np.arange(1, 11)).sum() / 2 / stats.ratings),
        "rating_histogram": {label: int(n) for label, n in zip(RATING_LABELS.to_pylist(), halfstars)},
        "top_1pct_movies_rating_share": float(popular_first[:top_percent].sum() / stats.ratings),
        "long_tail": _long_tail(stats.movie_ratings, user_counts),
    }


def _long_tail(movie_ratings: np.ndarray, user_counts: np.ndarray) -> dict[str, object]:
    """The figures to hold against ml-25m's (movie Gini 0.94 over rated
    movies, top movie rated by ~50% of users, ratings per user: min 20,
    median ~70): what taste-driven exposure must not distort."""
    rated = np.sort(movie_ratings[movie_ratings > 0]).astype(np.float64)
    rank = np.arange(1, rated.size + 1)
    quantiles = {"min": 0, "25%": 25, "50%": 50, "75%": 75, "90%": 90, "99%": 99, "max": 100}
    return {
        "movie_gini": float(((2 * rank - rated.size - 1) * rated).sum() / (rated.size * rated.sum())),
        "top_movie_ratings": int(rated[-1]),
        "top_movie_user_share": float(rated[-1] / user_counts.size),
        "ratings_per_user": {name: float(np.percentile(user_counts, q)) for name, q in quantiles.items()},
    }
