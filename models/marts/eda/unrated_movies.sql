{#- The seed's "movies not rated before": in the catalogue, without a clean rating. -#}

select
    movies.movie_id,
    movies.title,
    movies.release_year,
    movies.genres
from {{ ref('stg_movielens__movies') }} as movies
where not exists (
    select 1 from {{ ref('stg_movielens__ratings') }} as ratings
    where ratings.movie_id = movies.movie_id
)
