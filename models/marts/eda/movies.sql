{#- The catalogue as one wide row per movie: what a BI tool joins everything else to. -#}

with movies as (

    select * from {{ ref('stg_movielens__movies') }}

),

links as (

    select * from {{ ref('stg_movielens__links') }}

),

popularity as (

    select movie_id, n_ratings, mean_rating, damped_mean_rating
    from {{ ref('movie_popularity') }}

)

select
    movies.movie_id,
    movies.title,
    movies.full_title,
    movies.release_year,
    movies.genres,
    links.imdb_id,
    links.tmdb_id,
    coalesce(popularity.n_ratings, 0) as n_ratings,
    popularity.mean_rating,
    popularity.damped_mean_rating,
    movies.source_movie_id
from movies
left join links on movies.movie_id = links.movie_id
left join popularity on movies.movie_id = popularity.movie_id
