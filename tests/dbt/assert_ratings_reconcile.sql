{#- Nothing vanishes: every source rating row is either clean or quarantined. -#}
with counts as (

    select
        (select count(*) from {{ source('movielens', 'ratings') }}) as source_rows,
        (select count(*) from {{ ref('stg_movielens__ratings') }}) as clean_rows,
        (select count(*) from {{ ref('quarantine_ratings') }}) as quarantined_rows

)

select *
from counts
where source_rows <> clean_rows + quarantined_rows
