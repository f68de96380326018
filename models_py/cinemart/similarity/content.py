"""Per-movie content vectors: what the catalogue says about a movie, without any rating.

A movie rated once has factors that are mostly the ALS prior, so its
collaborative neighbours are noise; what MovieLens ships about it is not.
Three blocks, each unit-normalized, scaled by the square root of its weight
(so `weight` is the block's share of a dot product between two fully
described movies), then the whole vector unit-normalized:

  genres  one-hot, idf-weighted (a shared "Film-Noir" says more than a shared "Drama")
  tags    tf-idf of normalized user tags (lower case, single-spaced), tf = log(1 + times
          applied); vocabulary: tags on >= `min_tag_movies` movies, at most `max_tag_terms`
          of them (most widespread first, ties by name) so movies x dims stays small at 25M
  year    Gaussian bumps every 10 years (sigma 8): films a few years apart are alike,
          decades apart are not; a missing year leaves the block empty

A block a movie has nothing for stays zero and the others fill its vector,
so a movie with no tags is still placed by genres and year. The tag genome
(genome-scores.csv of ml-25m / ml-32m) is not used (docs/serving-and-new-users.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from cinemart.data.ids import IdIndex
from cinemart.serving.scoring import unit_rows
from cinemart.validation import require_int, require_number

NO_GENRES = "(no genres listed)"  # MovieLens' label for "none": not a genre two films can share
YEAR_STEP, YEAR_SIGMA = 10, 8.0
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class ContentWeights:
    """Each block's share of the content dot product, and the tag vocabulary limits."""

    genres: float = 0.25  # shares chosen on ml-latest-small's cold-start table (benchmarks/RESULTS.md):
    tags: float = 0.35  # tags lift content alone most, the year the blend most
    year: float = 0.4
    min_tag_movies: int = 2
    max_tag_terms: int = 200

    def __post_init__(self) -> None:
        for name in ("genres", "tags", "year"):
            require_number(f"content weight {name}", getattr(self, name), lambda v: v >= 0, ">= 0")
        if self.genres + self.tags + self.year <= 0:
            raise ValueError("content weights must not all be 0")
        require_int("min_tag_movies", self.min_tag_movies, 1)
        require_int("max_tag_terms", self.max_tag_terms, 0)


class ContentVectors(NamedTuple):
    movies: IdIndex  # sorted movie ids; row i of `vectors` is movies.ids[i]
    vectors: np.ndarray  # float32 (n_movies, dims), rows of length 1 or 0 (nothing known)
    dims: tuple[str, ...]  # "genre:Drama", "tag:dark comedy", "year:1990"


def normalize_tag(tag: str) -> str:
    """'  Dark   Comedy ' -> 'dark comedy': the same tag however users typed it."""
    return _SPACES.sub(" ", str(tag)).strip().lower()


def _idf(document_frequency: np.ndarray, n_documents: int) -> np.ndarray:
    return np.log((1.0 + n_documents) / (1.0 + document_frequency)) + 1.0  # smooth: never 0, never inf


def _genre_block(index: IdIndex, genres: Sequence[Sequence[str] | None]) -> tuple[np.ndarray, list[str]]:
    lists = [[g for g in (row or ()) if g and g != NO_GENRES] for row in genres]
    names = sorted({g for row in lists for g in row})
    column = {g: j for j, g in enumerate(names)}
    block = np.zeros((len(index), len(names)))
    for i, row in enumerate(lists):
        block[i, [column[g] for g in row]] = 1.0
    block *= _idf(block.sum(axis=0), len(index))[None, :]
    return block, [f"genre:{g}" for g in names]


def _tag_block(index: IdIndex, tag_movie_ids: np.ndarray, tags: Sequence[str],
               weights: ContentWeights) -> tuple[np.ndarray, list[str]]:
    rows = index.encode(np.asarray(tag_movie_ids, dtype=np.int64))
    terms = np.array([normalize_tag(t) for t in tags], dtype=object)
    keep = (rows >= 0) & (terms != "")
    rows, terms = rows[keep], terms[keep]
    if rows.size == 0 or weights.max_tag_terms == 0:
        return np.zeros((len(index), 0)), []
    names, term_idx = np.unique(terms.astype(str), return_inverse=True)
    pairs, counts = np.unique(np.stack([rows, term_idx]), axis=1, return_counts=True)
    df = np.bincount(pairs[1], minlength=names.size)
    eligible = np.flatnonzero(df >= weights.min_tag_movies)
    chosen = eligible[np.lexsort((names[eligible], -df[eligible]))][:weights.max_tag_terms]
    chosen.sort()  # columns in name order
    column = np.full(names.size, -1)
    column[chosen] = np.arange(chosen.size)
    used = column[pairs[1]] >= 0
    block = np.zeros((len(index), chosen.size))
    block[pairs[0][used], column[pairs[1][used]]] = np.log1p(counts[used])
    block *= _idf(df[chosen], len(index))[None, :]
    return block, [f"tag:{t}" for t in names[chosen]]


def _year_block(release_year: np.ndarray) -> tuple[np.ndarray, list[str]]:
    years = np.asarray(release_year, dtype=np.float64)
    known = np.isfinite(years)
    if not known.any():
        return np.zeros((years.size, 0)), []
    low = np.floor(years[known].min() / YEAR_STEP) * YEAR_STEP
    centers = np.arange(low, years[known].max() + YEAR_STEP, YEAR_STEP)
    block = np.zeros((years.size, centers.size))
    block[known] = np.exp(-0.5 * ((years[known, None] - centers[None, :]) / YEAR_SIGMA) ** 2)
    return block, [f"year:{int(c)}" for c in centers]


def content_vectors(movie_ids: np.ndarray, genres: Sequence[Sequence[str] | None], release_year: np.ndarray,
                    tag_movie_ids: np.ndarray, tags: Sequence[str],
                    weights: ContentWeights = ContentWeights()) -> ContentVectors:
    """Content vectors for the catalogue `movie_ids` (genres and release year aligned with it).

    `tag_movie_ids` / `tags`: one entry per tag application (tags.csv rows);
    tags on movies outside the catalogue are ignored. Returns rows in sorted
    movie-id order.
    """
    movie_ids = np.asarray(movie_ids, dtype=np.int64)
    if len(genres) != movie_ids.size or np.asarray(release_year).size != movie_ids.size:
        raise ValueError("movie_ids, genres and release_year must be equally long")
    if np.unique(movie_ids).size != movie_ids.size:
        raise ValueError("movie_ids must be unique")
    order = np.argsort(movie_ids, kind="stable")
    index = IdIndex(movie_ids[order])
    blocks = [_genre_block(index, [genres[i] for i in order]),
              _tag_block(index, tag_movie_ids, tags, weights),
              _year_block(np.asarray(release_year, dtype=np.float64)[order])]
    shares = (weights.genres, weights.tags, weights.year)
    parts = [np.sqrt(share) * unit_rows(block) for (block, _), share in zip(blocks, shares)]
    vectors = unit_rows(np.hstack(parts)).astype(np.float32)
    return ContentVectors(index, vectors, tuple(name for _, names in blocks for name in names))
