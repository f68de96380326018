with rejected as (

    select * from {{ ref('base_movielens__movies') }}
    where rejection_reason is not null

)

select
    rejection_reason as reason,
    raw_movie_id,
    raw_title,
    raw_genres,
    movie_id
from rejected
