with validated as (

    select * from {{ ref('base_movielens__tags') }}
    where rejection_reason is null

)

select
    user_id,
    movie_id,
    raw_tag as tag,
    {{ epoch_seconds_to_timestamp('tagged_at_epoch') }} as tagged_at
from validated
