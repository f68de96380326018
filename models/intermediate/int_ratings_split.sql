{#- The evaluation protocol, written once and used by every model:
    bucket = first 8 hex digits of md5('<user_id>-<movie_id>-<seed>') as an
    integer, mod 100; a rating is test when bucket < test_percent. Train rows get
    a cross-validation fold from the same hash salted with '-fold'. Any SQL engine
    with md5 reproduces it exactly.
    The temporal protocol beside it: the cut is the earliest rated_at by which
    (100 - temporal_test_percent)% of the ratings were made; a rating after it
    is in the temporal test part (is_after_cut), the rest train on it. -#}

{{ config(pre_hook="{{ duckdb_memory_limit_hook('loading') }}", post_hook="{{ duckdb_memory_limit_hook('planned') }}") }}

{%- set seed = integer_var('split_seed', 0) -%}
{%- set test_percent = integer_var('test_percent', 1, 99) -%}
{%- set folds = integer_var('cv_folds', 2, 20) -%}
{%- set temporal_test_percent = integer_var('temporal_test_percent', 1, 99) -%}
{%- set key = "cast(user_id as " ~ dbt.type_string() ~ ") || '-' || cast(movie_id as " ~ dbt.type_string() ~ ")" -%}

with ratings as (

    select * from {{ ref('stg_movielens__ratings') }}

),

hashed as (

    select
        user_id,
        movie_id,
        rating,
        rated_at,
        play_count,
        {{ md5_bucket(key ~ " || '-" ~ seed ~ "'", 100) }} as split_bucket,
        {{ md5_bucket(key ~ " || '-" ~ seed ~ "-fold'", folds) }} as fold_hash
    from ratings

),

moments as (

    select rated_at, count(*) as n_ratings
    from ratings
    group by rated_at

),

cumulative as (

    select
        rated_at,
        sum(n_ratings) over (order by rated_at rows between unbounded preceding and current row) as n_by_then
    from moments

),

temporal_cut as (

    select min(rated_at) as cut
    from cumulative
    where n_by_then * 100 >= (select count(*) from ratings) * {{ 100 - temporal_test_percent }}

)

select
    user_id,
    movie_id,
    rating,
    rated_at,
    play_count,
    split_bucket,
    split_bucket < {{ test_percent }} as is_test,
    case when split_bucket >= {{ test_percent }} then cast(fold_hash as integer) end as cv_fold,
    coalesce(rated_at > (select cut from temporal_cut), false) as is_after_cut
from hashed
