{#- similar_movies.similarity (of the movies whose lists are collaborative) and
    user_recommendations.because_similarity (unless EASE or the blend serves) are the cosine of two movies' factors. Recomputed here in SQL from the public
    factor tables of the similarity model (serving_settings): a similarity taken from another
    model's or another run's factors, from the wrong movie or from unnormalised
    vectors fails (a range check of [-1, 1] could not: the Python side clips). -#}
{%- set tolerance = 1e-4 -%}

{#- One factor table per model: their arrays differ in length, so they are never unioned. -#}
{%- set factor_tables = {'explicit_als': 'movie_factors', 'implicit_als': 'implicit_movie_factors'} -%}

with pairs as (

    select 'similar_movies' as source, model, run_id, movie_id, similar_movie_id as other_movie_id, similarity
    from {{ ref('similar_movies') }}
    -- blend and content lists mix in content vectors (checked against the stored
    -- vectors by tests/python: similar_to and the table must agree)
    where source = 'collaborative'
    union all
    -- explanations use the similarity model's factors, whichever model recommends
    select 'user_recommendations', settings.similar_movies_model, settings.similar_movies_run_id,
           recommendations.movie_id, recommendations.because_you_liked_movie_id, recommendations.because_similarity
    from {{ ref('user_recommendations') }} as recommendations
    cross join {{ ref('serving_settings') }} as settings
    where recommendations.because_you_liked_movie_id is not null
        -- EASE and the blend explain by EASE's weights (assert_ease_explanations_are_the_largest_contribution)
        and settings.recommendations_model not in ('ease', 'ease_implicit_blend')

),

recomputed as (

    {%- for model, table in factor_tables.items() %}
    select
        pairs.*,
        -- a movie without factors is an error; all-zero factors (a movie the
        -- implicit model counts no interaction for) have similarity 0
        case when one.factors is not null and other.factors is not null
             then coalesce({{ cosine_similarity('one.factors', 'other.factors') }}, 0) end as cosine
    from pairs
    left join {{ ref(table) }} as one
        on one.movie_id = pairs.movie_id and one.run_id = pairs.run_id
    left join {{ ref(table) }} as other
        on other.movie_id = pairs.other_movie_id and other.run_id = pairs.run_id
    where pairs.model = '{{ model }}'
    union all
    {%- endfor %}
    -- a model without movie factors of its own (popularity) cannot define similarity
    select pairs.*, cast(null as double) as cosine
    from pairs
    where pairs.model not in ('{{ factor_tables.keys() | join("', '") }}')

)

select *
from recomputed
where cosine is null
   or abs(similarity - cosine) > {{ tolerance }}
