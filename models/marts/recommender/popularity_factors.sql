{#- The popularity baseline as a rank-1 factor model, so it can be served and
    scored by the same retrieval path and SQL macros as the ALS models:
    user factor [1], movie factor [clean ratings >= 4.0 of the movie]
    (the count that won on validation, cinemart.ranking.fit_popularity). -#}

with ratings as (

    select * from {{ ref('stg_movielens__ratings') }}

),

run as (

    select min(run_id) as run_id from {{ ref('ranking_evaluation') }}

),

users as (

    select user_id, count(*) as n_ratings from ratings group by user_id

),

movies as (

    select
        movie_id,
        count(*) as n_ratings,
        sum(case when rating >= 4.0 then 1 else 0 end) as n_liked
    from ratings
    group by movie_id

)

select
    run.run_id,
    'user' as entity,
    users.user_id as id,
    cast(0 as float) as bias,
    {{ float_array(['1.0']) }} as factors,
    users.n_ratings,
    cast(0 as double) as global_mean
from users
cross join run

union all

select
    run.run_id,
    'movie' as entity,
    movies.movie_id as id,
    cast(0 as float) as bias,
    {{ float_array(['movies.n_liked']) }} as factors,
    movies.n_ratings,
    cast(0 as double) as global_mean
from movies
cross join run
