{#- similar_movies.similarity and user_recommendations.because_similarity are
    the cosine of two movies' factors. Recomputed here in SQL from the public
    factor tables of the similarity model (serving_settings): a similarity taken from another
    model's or another run's factors, from the wrong movie or from unnormalised
    vectors fails (a range check of [-1, 1] could not: the Python side clips). -#}
{%- set tolerance = 1e-4 -%}

with factors as (

    select movie_id, factors, model, run_id from {{ ref('movie_factors') }}
    union all
    select movie_id, factors, model, run_id from {{ ref('implicit_movie_factors') }}

),

pairs as (

    select 'similar_movies' as source, model, run_id, movie_id, similar_movie_id as other_movie_id, similarity
    from {{ ref('similar_movies') }}
    union all
    -- explanations use the similarity model's factors, whichever model recommends
    select 'user_recommendations', settings.similar_movies_model, settings.similar_movies_run_id,
           recommendations.movie_id, recommendations.because_you_liked_movie_id, recommendations.because_similarity
    from {{ ref('user_recommendations') }} as recommendations
    cross join {{ ref('serving_settings') }} as settings
    where recommendations.because_you_liked_movie_id is not null

),

recomputed as (

    select
        pairs.*,
        {{ cosine_similarity('one.factors', 'other.factors') }} as cosine
    from pairs
    left join factors as one
        on one.movie_id = pairs.movie_id and one.model = pairs.model and one.run_id = pairs.run_id
    left join factors as other
        on other.movie_id = pairs.other_movie_id and other.model = pairs.model and other.run_id = pairs.run_id

)

select *
from recomputed
where cosine is null
   or abs(similarity - cosine) > {{ tolerance }}
