{#- The chosen explicit configuration refit on all clean ratings: the served
    factors (int_als_factors fits each configuration once, on train and on all). -#}

select run_id, entity, id, bias, factors, n_ratings, global_mean
from {{ ref('int_als_factors') }}
where fit = 'all'
