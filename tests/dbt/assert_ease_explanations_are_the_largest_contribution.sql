{#- When EASE or the blend serves, user_recommendations explains a
    recommendation by the liked movie with the largest weight in EASE's score
    of it (cinemart.models.ease.ease_contributions), and because_similarity is
    that weight. Recomputed here from the public ease_factors: movie j's
    factors hold column j of EASE's weights B, position p the weight of the
    p-th kept movie (finite bias, ascending movie_id); the liked movies are
    the user's ratings >= the chosen min_rating (ease_grid_search), or every
    interaction on implicit feedback (rating null). A weight
    taken from the wrong movie or another run, or a liked movie that is not the
    argmax over the user's kept positives, fails. Every user's first
    recommendation is checked (all of them would copy a movies-wide weight
    list per liked movie of every recommendation: a minute on
    ml-latest-small). Empty when another model serves. -#}
{%- set tolerance = 1e-6 -%}

with served as (

    select recommendations_model as model
    from {{ ref('serving_settings') }}
    where recommendations_model in ('ease', 'ease_implicit_blend')

),

kept as (

    select id as movie_id, row_number() over (order by id) as position
    from {{ ref('ease_factors') }}
    where entity = 'movie' and bias > -1e30

),

explained as (

    select recommendations.user_id, recommendations.movie_id, recommendations.because_you_liked_movie_id,
           recommendations.because_similarity
    from {{ ref('user_recommendations') }} as recommendations
    where recommendations.source = 'personalised' and recommendations.rank = 1 and exists (select 1 from served)

),

candidates as (

    -- every liked kept movie of the user (not the recommended one) and its weight in the recommendation's score
    select explained.user_id, explained.movie_id, ratings.movie_id as liked_id,
           {{ list_item('movie.factors', 'kept.position') }} as weight
    from explained
    inner join {{ ref('stg_movielens__ratings') }} as ratings on ratings.user_id = explained.user_id
    inner join kept on kept.movie_id = ratings.movie_id
    inner join {{ ref('ease_factors') }} as movie on movie.entity = 'movie' and movie.id = explained.movie_id
    where (ratings.rating is null
           or ratings.rating >= (select min_rating from {{ ref('ease_grid_search') }} where is_chosen))
        and ratings.movie_id <> explained.movie_id

),

best as (

    select user_id, movie_id, max(weight) as weight
    from candidates
    group by user_id, movie_id

)

select explained.*, best.weight as largest, chosen.weight as chosen_weight
from explained
left join best on best.user_id = explained.user_id and best.movie_id = explained.movie_id
left join candidates as chosen
    on chosen.user_id = explained.user_id and chosen.movie_id = explained.movie_id
    and chosen.liked_id = explained.because_you_liked_movie_id
where (best.weight is null) <> (explained.because_you_liked_movie_id is null)
   or chosen.weight is null and explained.because_you_liked_movie_id is not null
   or abs(chosen.weight - best.weight) > {{ tolerance }}
   or abs(explained.because_similarity - best.weight) > {{ tolerance }}
