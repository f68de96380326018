{{ config(materialized='table') }}

with rejected as (

    select * from {{ ref('base_movielens__ratings') }}
    where rejection_reason is not null

)

select
    rejection_reason as reason,
    raw_line,
    raw_user_id,
    raw_movie_id,
    raw_rating,
    raw_timestamp,
    raw_plays,
    user_id,
    movie_id,
    rating
from rejected
