{#- One row per user. The percentile columns place a user in the long tail of
    activity: 0 = the least active user, 1 = the most active. -#}

with ratings as (

    select * from {{ ref('stg_movielens__ratings') }}

),

per_user as (

    select
        user_id,
        count(*) as n_ratings,
        avg(rating) as mean_rating,
        min(rated_at) as first_rated_at,
        max(rated_at) as last_rated_at
    from ratings
    group by user_id

)

select
    user_id,
    n_ratings,
    mean_rating,
    first_rated_at,
    last_rated_at,
    percent_rank() over (order by n_ratings) as activity_percentile,
    cume_dist() over (order by n_ratings) as share_of_users_at_or_below
from per_user
