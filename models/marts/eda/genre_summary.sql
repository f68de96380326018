{#- The seed notebook's "count the number of movies under each category",
    with the ratings those movies received. A movie counts once per genre. -#}

with movie_genres as (

    select * from {{ ref('int_movie_genres') }}

),

ratings_per_movie as (

    select movie_id, count(*) as n_ratings, sum(rating) as rating_sum
    from {{ ref('stg_movielens__ratings') }}
    group by movie_id

),

catalogue as (

    select count(*) as n_movies from {{ ref('stg_movielens__movies') }}

)

select
    movie_genres.genre,
    count(*) as n_movies,
    count(ratings_per_movie.movie_id) as n_rated_movies,
    -- bigint on both engines (DuckDB sums integers into HUGEINT)
    cast(coalesce(sum(ratings_per_movie.n_ratings), 0) as bigint) as n_ratings,
    sum(ratings_per_movie.rating_sum) / nullif(sum(ratings_per_movie.n_ratings), 0) as mean_rating,
    cast(count(*) as double) / max(catalogue.n_movies) as share_of_catalogue
from movie_genres
left join ratings_per_movie on movie_genres.movie_id = ratings_per_movie.movie_id
cross join catalogue
group by movie_genres.genre
