"""Similar movies for the whole catalogue, as the warehouse tables they produce (both engines share this).

  content_vectors_table     -> int_movie_content_vectors     (genres, tags, year; cinemart.similarity.content)
  similarity_vectors_table  -> int_movie_similarity_vectors  (per movie: support weight, query and candidate vectors)
  similar_movies_table      -> int_similar_movies            (top-N by query . candidate, with its source)
  cold_start_table          -> int_similar_movies_cold_start (cinemart.similarity.cold_start)

The similar lists and the SQL macro similar_to both score from the stored
query/candidate vectors, so they agree bit for bit (cinemart.similarity.blend).
Everything here is per movie (model-sized) NumPy; the Spark engine collects its
inputs to the driver and calls the same functions (cinemart.spark.serving).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pyarrow as pa

from cinemart.console import Progress, print_progress
from cinemart.data.ids import IdIndex
from cinemart.models.fold_in import FoldIn
from cinemart.similarity import cold_start
from cinemart.similarity.blend import SimilarityVectors, blended_similar, similarity_vectors, source_of
from cinemart.similarity.content import ContentVectors, content_vectors
from cinemart.warehouse.factor_tables import ServedFactors, factor_column
from cinemart.warehouse.ranking_tables import RankingSettings


def vector_column(table: pa.Table, name: str) -> np.ndarray:
    """A FLOAT[d] column back as a (rows, d) float32 array."""
    column = table.column(name).combine_chunks()
    width = column.type.list_size
    return column.flatten().to_numpy().astype(np.float32).reshape(-1, width)


def content_vectors_table(movie_ids: np.ndarray, genres: Sequence[Sequence[str] | None], release_year: np.ndarray,
                          tag_movie_ids: np.ndarray, tags: Sequence[str]) -> pa.Table:
    found = content_vectors(movie_ids, genres, release_year, tag_movie_ids, tags)
    # A catalogue with no genres, years or tags (own data without one) has no content dimension; one zero
    # column keeps the vectors a table column, each row the zero vector that means "nothing known".
    vectors = found.vectors if found.vectors.shape[1] else np.zeros((found.vectors.shape[0], 1), np.float32)
    return pa.table({"movie_id": found.movies.ids, "content": factor_column(vectors)})


def read_content(table: pa.Table) -> ContentVectors:
    ids = table.column("movie_id").to_numpy()
    order = np.argsort(ids, kind="stable")
    return ContentVectors(IdIndex(ids[order]), vector_column(table, "content")[order], ())


def build_vectors(content: pa.Table, taste: ServedFactors, settings: RankingSettings) -> SimilarityVectors:
    return similarity_vectors(read_content(content), taste.movies, taste.factors.item_factors, taste.movie_ratings,
                              settings.similar_min_ratings)


def similarity_vectors_table(content: pa.Table, taste: ServedFactors, settings: RankingSettings) -> pa.Table:
    """Per catalogue movie: n_ratings, support weight, source, query and candidate vectors (read by similar_to)."""
    vectors = build_vectors(content, taste, settings)
    n = len(vectors.movies)
    return pa.table({
        "movie_id": vectors.movies.ids,
        "n_ratings": vectors.n_ratings,
        "support_weight": vectors.weight,
        "source": pa.array(source_of(vectors.weight, vectors.is_popular), pa.string()),
        "is_query": vectors.is_query,
        "is_candidate": vectors.is_candidate,
        "query_vector": factor_column(vectors.query),
        "candidate_vector": factor_column(vectors.candidate),
        "model": [taste.model_name] * n,
        "run_id": [taste.run_id] * n,
    })


def read_vectors(table: pa.Table) -> tuple[SimilarityVectors, np.ndarray, str, str]:
    """int_movie_similarity_vectors back: (vectors with the stored Q and C, sources, model, run_id)."""
    ids = table.column("movie_id").to_numpy()
    order = np.argsort(ids, kind="stable")
    query, candidate = vector_column(table, "query_vector")[order], vector_column(table, "candidate_vector")[order]
    vectors = SimilarityVectors(IdIndex(ids[order]), table.column("n_ratings").to_numpy()[order], np.empty((ids.size, 0)),
                                np.empty((ids.size, 0), np.float32), table.column("support_weight").to_numpy()[order],
                                query, candidate)
    sources = np.asarray(table.column("source").to_pylist(), dtype=object)[order]
    model = str(table.column("model")[0]) if ids.size else ""
    run = str(table.column("run_id")[0]) if ids.size else ""
    return vectors, sources, model, run


def similar_movies_table(similarity_vectors: pa.Table, settings: RankingSettings,
                         progress: Progress = print_progress) -> pa.Table:
    """Top-N by query . candidate for every movie with a direction: collaborative, content or a blend (`source`)."""
    started = time.perf_counter()
    vectors, sources, model, run = read_vectors(similarity_vectors)
    found = blended_similar(vectors, settings.top_n)
    counts = {s: int(np.unique(found.item[sources[found.item] == s]).size) for s in ("collaborative", "blend", "content")}
    progress(f"similar movies: top-{settings.top_n} for {np.unique(found.item).size:,} of {len(vectors.movies):,} "
             f"movies ({', '.join(f'{v:,} {k}' for k, v in counts.items())}) in {time.perf_counter() - started:.1f}s")
    return pa.table({
        "movie_id": pa.array(vectors.movies.decode(found.item), pa.int64()),
        "rank": found.rank.astype(np.int32),
        "similar_movie_id": pa.array(vectors.movies.decode(found.similar_item), pa.int64()),
        "similarity": found.similarity,
        "source": pa.array(sources[found.item], pa.string()),
        "model": pa.array([model] * found.item.size, pa.string()),
        "run_id": pa.array([run] * found.item.size, pa.string()),
    })


def cold_start_table(content: pa.Table, taste: ServedFactors, parameters: str, engine: str,
                     ratings: dict[str, np.ndarray] | Any, settings: RankingSettings,
                     progress: Progress = print_progress) -> pa.Table:
    """similar_movies_cold_start from the served taste factors and `ratings` (movie_id, user_id, rating).

    `ratings` may hold only the sample movies' ratings, in a deterministic order
    (see `sample_for` / `cold_start.pick_order`).
    """
    started = time.perf_counter()
    vectors = build_vectors(content, taste, settings)
    sample = cold_start.sample_movies(vectors, settings.seed)
    rows, pick = cold_start.pick_order(ratings["movie_id"], ratings["user_id"], vectors.movies.ids[sample],
                                       max(cold_start.KS), settings.seed)
    f = taste.factors
    table = cold_start.cold_start_table(
        vectors, sample, np.asarray(ratings["movie_id"])[rows], np.asarray(ratings["user_id"])[rows],
        np.asarray(ratings["rating"], dtype=np.float64)[rows], pick, taste.users, f.user_factors, f.user_bias,
        f.global_mean, FoldIn.from_parameters(taste.model_name, parameters, engine), settings.similar_min_ratings,
        taste.model_name, taste.run_id)
    progress(f"similar movies cold start: {sample.size:,} movies x k in {cold_start.KS} in "
             f"{time.perf_counter() - started:.1f}s")
    return table


def sample_movie_ids(content: pa.Table, taste: ServedFactors, settings: RankingSettings) -> np.ndarray:
    """The movie ids the cold start simulates (so an engine need only fetch their ratings)."""
    vectors = build_vectors(content, taste, settings)
    return vectors.movies.ids[cold_start.sample_movies(vectors, settings.seed)]
