{#- Every user with a clean rating gets exactly 10 recommendations, or every
    candidate when fewer exist, all from the source the served model's factor
    row calls for (personalised_user, the rule of
    cinemart.models.base.Factors.personalised): a user it can personalise gets
    the served model's candidate movies they have not rated, labelled
    'personalised'; any other user the popular_movies they have not rated,
    labelled 'popular_fallback'. The served model is any of the five
    serving_settings can name (the serving macros' served_factors); its
    candidates are its movie rows with a finite bias (EASE gives the movies
    outside its budget -infinity: never listed). -#}
with served as (

    select recommendations_model as model from {{ ref('serving_settings') }}

),

factor_rows as (

    {%- for model, table in [('implicit_als', 'implicit_factors'), ('explicit_als', 'als_factors'),
                             ('popularity', 'popularity_factors'), ('ease', 'ease_factors'),
                             ('ease_implicit_blend', 'blend_factors')] %}
    {{ 'union all ' if not loop.first }}select '{{ model }}' as model, entity, id, bias > -3.0e38 as is_candidate,
        {{ personalised_user('factors', 'bias') }} as is_personalised
    from {{ ref(table) }}
    {%- endfor %}

),

served_rows as (

    select factor_rows.* from factor_rows inner join served on factor_rows.model = served.model

),

candidates as (

    select id as movie_id from served_rows where entity = 'movie' and is_candidate

),

served_catalogue as (

    select count(*) as n_movies from candidates

),

served_users as (

    select id as user_id, is_personalised from served_rows where entity = 'user'

),

popular as (

    select count(*) as n_popular from {{ ref('popular_movies') }}

),

rated as (

    select
        ratings.user_id,
        count(candidates.movie_id) as n_rated_candidates,
        count(popular_movies.movie_id) as n_rated_popular
    from {{ ref('stg_movielens__ratings') }} as ratings
    left join candidates on ratings.movie_id = candidates.movie_id
    left join {{ ref('popular_movies') }} as popular_movies on ratings.movie_id = popular_movies.movie_id
    group by ratings.user_id

),

expected as (

    select
        rated.user_id,
        case when served_users.is_personalised then 'personalised' else 'popular_fallback' end as source,
        case when served_users.is_personalised then least(10, served_catalogue.n_movies - rated.n_rated_candidates)
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
-- a served model none of the five tables holds would leave every expectation empty: fail instead
union all
select null, 'no served factor rows', null, null, 0, 0
where not exists (select 1 from served_rows)
