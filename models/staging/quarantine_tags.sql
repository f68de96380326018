with rejected as (

    select * from {{ ref('base_movielens__tags') }}
    where rejection_reason is not null

)

select
    rejection_reason as reason,
    raw_user_id,
    raw_movie_id,
    raw_tag,
    raw_timestamp,
    user_id,
    movie_id
from rejected
