with movies as (

    select * from {{ ref('stg_movielens__movies') }}
    where release_year is not null

),

per_movie as (

    select movie_id, count(*) as n_ratings, sum(rating) as rating_sum
    from {{ ref('stg_movielens__ratings') }}
    group by movie_id

)

select
    movies.release_year,
    count(*) as n_movies,
    -- bigint on both engines (DuckDB sums integers into HUGEINT)
    cast(coalesce(sum(per_movie.n_ratings), 0) as bigint) as n_ratings,
    sum(per_movie.rating_sum) / nullif(sum(per_movie.n_ratings), 0) as mean_rating
from movies
left join per_movie on movies.movie_id = per_movie.movie_id
group by movies.release_year
