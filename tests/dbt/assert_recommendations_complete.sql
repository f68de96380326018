{#- Every user with a clean rating gets exactly 10 recommendations, or every
    candidate when fewer exist, all from the source the served model's factor
    row calls for (personalised_user, the rule of
    cinemart.models.base.Factors.personalised): a user it can personalise gets
    the served model's movies they have not rated (all rated movies have
    factors: the final refit sees every clean rating), labelled 'personalised';
    any other user the popular_movies they have not rated, labelled
    'popular_fallback'. -#}
with served as (

    select recommendations_model as model from {{ ref('serving_settings') }}

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

users as (

    select 'implicit_als' as model, user_id, {{ personalised_user('factors', 'bias') }} as is_personalised
    from {{ ref('implicit_user_factors') }}
    union all
    select 'explicit_als' as model, user_id, {{ personalised_user('factors', 'bias') }} as is_personalised
    from {{ ref('user_factors') }}
    union all
    select 'popularity' as model, id as user_id, {{ personalised_user('factors', 'bias') }} as is_personalised
    from {{ ref('popularity_factors') }} where entity = 'user'

),

served_users as (

    select users.user_id, users.is_personalised from users inner join served on users.model = served.model

),

popular as (

    select count(*) as n_popular from {{ ref('popular_movies') }}

),

rated as (

    select ratings.user_id, count(*) as n_rated, count(popular_movies.movie_id) as n_rated_popular
    from {{ ref('stg_movielens__ratings') }} as ratings
    left join {{ ref('popular_movies') }} as popular_movies on ratings.movie_id = popular_movies.movie_id
    group by ratings.user_id

),

expected as (

    select
        rated.user_id,
        case when served_users.is_personalised then 'personalised' else 'popular_fallback' end as source,
        case when served_users.is_personalised then least(10, served_catalogue.n_movies - rated.n_rated)
             else least(10, popular.n_popular - rated.n_rated_popular) end as n_expected
    from rated
    cross join served_catalogue
    cross join popular
    left join served_users on rated.user_id = served_users.user_id

),

recommended as (

    select user_id, count(*) as n_recommended, min(source) as first_source, max(source) as last_source
    from {{ ref('int_user_recommendations') }}
    group by user_id

)

select
    expected.user_id,
    expected.source as expected_source,
    recommended.first_source,
    recommended.last_source,
    coalesce(recommended.n_recommended, 0) as n_recommended,
    expected.n_expected
from expected
left join recommended on expected.user_id = recommended.user_id
where coalesce(recommended.n_recommended, 0) <> expected.n_expected
   or (expected.n_expected > 0
       and (recommended.first_source <> expected.source or recommended.last_source <> expected.source))
