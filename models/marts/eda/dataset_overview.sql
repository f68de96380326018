with ratings as (

    select * from {{ ref('stg_movielens__ratings') }}

),

movies as (

    select * from {{ ref('stg_movielens__movies') }}

),

per_user as (

    select user_id, count(*) as n_ratings from ratings group by user_id

),

rating_stats as (

    select
        count(*) as n_ratings,
        count(distinct user_id) as n_users,
        count(distinct movie_id) as n_rated_movies,
        avg(rating) as mean_rating,
        min(rated_at) as first_rated_at,
        max(rated_at) as last_rated_at
    from ratings

)

select
    -- implicit feedback: own data without a rating column (macros/own_data.sql)
    case when rating_stats.n_ratings > 0 and rating_stats.mean_rating is null then 'implicit' else 'explicit' end
        as feedback,
    rating_stats.n_users,
    (select count(*) from movies) as n_movies,
    rating_stats.n_rated_movies,
    (select count(*) from movies) - rating_stats.n_rated_movies as n_unrated_movies,
    rating_stats.n_ratings,
    (select count(*) from {{ ref('quarantine_ratings') }}) as n_quarantined_ratings,
    (select count(*) from {{ ref('stg_movielens__tags') }}) as n_tags,
    (select count(distinct genre) from {{ ref('int_movie_genres') }}) as n_genre_values,
    cast(rating_stats.n_ratings as double)
        / nullif(cast(rating_stats.n_users as double) * (select count(*) from movies), 0) as density,
    rating_stats.mean_rating,
    (select min(n_ratings) from per_user) as min_ratings_per_user,
    (select max(n_ratings) from per_user) as max_ratings_per_user,
    rating_stats.first_rated_at,
    rating_stats.last_rated_at
from rating_stats
