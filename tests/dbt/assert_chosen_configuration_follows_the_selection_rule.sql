{#- Exactly one configuration is chosen and exactly one has the lowest mean CV
    RMSE, and the chosen one is what selection_rule says:
    - lowest: the chosen is the lowest-RMSE configuration;
    - one_se: the chosen is within one standard error of the lowest, and no
      configuration within it is less complex (ESL 7.10's one-standard-error rule). -#}

with grid as (

    select * from {{ ref('als_grid_search') }}

),

best as (

    select mean_rmse, rmse_standard_error from grid where is_lowest_rmse

),

within_one_se as (

    select grid.*
    from grid
    cross join best
    where grid.mean_rmse <= best.mean_rmse + best.rmse_standard_error

)

select 'not exactly one chosen' as problem
from grid
having sum(case when is_chosen then 1 else 0 end) <> 1

union all

select 'not exactly one flagged lowest'
from grid
having sum(case when is_lowest_rmse then 1 else 0 end) <> 1

union all

select 'the flagged lowest is not the lowest mean_rmse'
from grid
where is_lowest_rmse and mean_rmse > (select min(mean_rmse) from grid)

union all

select 'lowest rule: chosen is not the lowest mean_rmse'
from grid
where is_chosen and selection_rule = 'lowest' and not is_lowest_rmse

union all

select 'one_se rule: chosen is more than one standard error above the lowest'
from grid
cross join best
where grid.is_chosen and grid.selection_rule = 'one_se'
  and grid.mean_rmse > best.mean_rmse + best.rmse_standard_error

union all

select 'one_se rule: a less complex configuration is within one standard error'
from grid as chosen
where chosen.is_chosen and chosen.selection_rule = 'one_se'
  and chosen.complexity > (select min(complexity) from within_one_se)
