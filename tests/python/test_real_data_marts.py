"""The seed notebook's answers come out of the warehouse built on the real ml-latest-small."""

from __future__ import annotations


def test_dataset_overview_matches_the_seed(real_warehouse):
    (users, movies, rated, unrated, ratings, quarantined, min_per_user, genres), = real_warehouse.query(
        "select n_users, n_movies, n_rated_movies, n_unrated_movies, n_ratings, n_quarantined_ratings, "
        "min_ratings_per_user, n_genre_values from dataset_overview")
    assert (users, movies, rated, unrated, ratings) == (610, 9742, 9724, 18, 100836)
    assert quarantined == 0
    assert min_per_user == 20
    assert genres == 20


def test_unrated_and_rarely_rated_movies(real_warehouse):
    assert real_warehouse.query("select count(*) from unrated_movies") == [(18,)]
    assert real_warehouse.query("select count(*) from rarely_rated_movies") == [(3446,)]


def test_genre_values_include_the_odd_ones(real_warehouse):
    genres = {g for (g,) in real_warehouse.query("select genre from genre_summary")}
    assert len(genres) == 20
    assert {"(no genres listed)", "IMAX", "Drama", "Film-Noir"} <= genres
    drama, = real_warehouse.query("select n_movies from genre_summary where genre = 'Drama'")
    assert drama == (4361,)


def test_split_follows_the_md5_protocol(real_warehouse):
    import hashlib

    rows = real_warehouse.query("select user_id, movie_id, split_bucket, is_test from int_ratings_split "
                                "order by user_id, movie_id limit 200")
    for user, movie, bucket, is_test in rows:
        expected = int(hashlib.md5(f"{user}-{movie}-2020".encode()).hexdigest()[:8], 16) % 100
        assert bucket == expected
        assert is_test == (expected < 20)
    (n_test, n_all), = real_warehouse.query("select count(*) filter (where is_test), count(*) from int_ratings_split")
    assert 0.19 < n_test / n_all < 0.21
