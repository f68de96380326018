{#- Every user with a clean rating gets exactly 10 recommendations, or every
    candidate when fewer exist: candidates are the served model's movies the
    user has not rated (all rated movies have factors: the final refit sees
    every clean rating). -#}
with served as (

    select distinct model from {{ ref('int_user_recommendations') }}

),

catalogue as (

    select 'implicit_als' as model, count(*) as n_movies from {{ ref('implicit_movie_factors') }}
    union all
    select 'explicit_als' as model, count(*) as n_movies from {{ ref('movie_factors') }}
    union all
    select 'popularity' as model, count(*) as n_movies from {{ ref('popularity_factors') }} where entity = 'movie'

),

served_catalogue as (

    select catalogue.n_movies from catalogue inner join served on catalogue.model = served.model

),

rated as (

    select user_id, count(*) as n_rated from {{ ref('stg_movielens__ratings') }} group by user_id

),

recommended as (

    select user_id, count(*) as n_recommended from {{ ref('int_user_recommendations') }} group by user_id

)

select
    rated.user_id,
    coalesce(recommended.n_recommended, 0) as n_recommended,
    least(10, served_catalogue.n_movies - rated.n_rated) as n_expected
from rated
cross join served_catalogue
left join recommended on rated.user_id = recommended.user_id
where coalesce(recommended.n_recommended, 0) <> least(10, served_catalogue.n_movies - rated.n_rated)
