with ratings as (

    {#- implicit feedback (own data without ratings) has no star values: no rows -#}
    select rating from {{ ref('stg_movielens__ratings') }}
    where rating is not null

)

select
    rating,
    count(*) as n_ratings,
    cast(count(*) as double) / sum(count(*)) over () as share_of_ratings
from ratings
group by rating
