{{ config(pre_hook="{{ duckdb_memory_limit_hook('loading') }}", post_hook="{{ duckdb_memory_limit_hook('planned') }}") }}

with validated as (

    select * from {{ ref('base_movielens__ratings') }}
    where rejection_reason is null

)

select
    user_id,
    movie_id,
    cast(rating as double) as rating,
    {{ epoch_seconds_to_timestamp('rated_at_epoch') }} as rated_at,
    cast(play_count as double) as play_count
from validated
