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

entities as (

    select 'user' as entity, user_id as id, cast(1 as float) as factor, count(*) as n_ratings
    from ratings
    group by user_id

    union all

    select
        'movie' as entity,
        movie_id as id,
        cast(sum(case when rating >= 4.0 then 1 else 0 end) as float) as factor,
        count(*) as n_ratings
    from ratings
    group by movie_id

)

select
    run.run_id,
    entities.entity,
    entities.id,
    cast(0 as float) as bias,
    {{ float_array(['entities.factor']) }} as factors,
    entities.n_ratings,
    cast(0 as double) as global_mean
from entities
cross join run
