{#- The public fallback list: the 'all' fit of int_popular_movies (the
    formula is documented there and in the YAML) with titles. recommend_for
    and user_recommendations serve it, tagged source = 'popular_fallback', to
    a user the served model has no factors for or cannot personalise. -#}

with popular as (

    select * from {{ ref('int_popular_movies') }} where fit = 'all'

),

movies as (

    select movie_id, title, genres from {{ ref('movies') }}

)

select
    popular.rank,
    popular.movie_id,
    movies.title,
    movies.genres,
    popular.n_ratings,
    popular.mean_rating,
    popular.damped_mean_rating,
    popular.score,
    popular.global_mean,
    popular.prior_ratings,
    popular.min_ratings
from popular
inner join movies on popular.movie_id = movies.movie_id
