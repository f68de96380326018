{#- Movies rated by exactly one user, with that user and rating. -#}

with single as (

    select movie_id
    from {{ ref('stg_movielens__ratings') }}
    group by movie_id
    having count(*) = 1

)

select
    ratings.movie_id,
    movies.title,
    movies.release_year,
    ratings.user_id,
    ratings.rating,
    ratings.rated_at
from single
inner join {{ ref('stg_movielens__ratings') }} as ratings on single.movie_id = ratings.movie_id
inner join {{ ref('stg_movielens__movies') }} as movies on single.movie_id = movies.movie_id
