with ratings as (

    select rating from {{ ref('stg_movielens__ratings') }}

)

select
    rating,
    count(*) as n_ratings,
    cast(count(*) as double) / sum(count(*)) over () as share_of_ratings
from ratings
group by rating
