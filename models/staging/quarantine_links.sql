with rejected as (

    select * from {{ ref('base_movielens__links') }}
    where rejection_reason is not null

)

select
    rejection_reason as reason,
    raw_movie_id,
    raw_imdb_id,
    raw_tmdb_id,
    movie_id
from rejected
