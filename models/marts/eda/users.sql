{#- The user ids' mapping back to the source data (macros/own_data.sql): what
    a BI tool joins to the analyst's own user table. MovieLens ids map to
    themselves. -#}

with clean as (

    select user_id, raw_user_id
    from {{ ref('base_movielens__ratings') }}
    where rejection_reason is null

)

select
    user_id,
    -- integer ids written two ways ('7', '007') are one user: the first spelling names it
    min({{ raw_field('raw_user_id') }}) as source_user_id
from clean
group by user_id
