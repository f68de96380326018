{#- Exactly one configuration is chosen and it has the lowest mean CV RMSE
    (ties: the chosen one is among the lowest). Replaces a range check on
    mean_rmse that could not fail. -#}

with grid as (

    select * from {{ ref('als_grid_search') }}

)

select 'not exactly one chosen' as problem
from grid
having sum(case when is_chosen then 1 else 0 end) <> 1

union all

select 'chosen is not the lowest mean_rmse'
from grid as chosen
where chosen.is_chosen
  and chosen.mean_rmse > (select min(mean_rmse) from grid)
