{#- The contracted face of int_similar_movies_cold_start (a dbt Python model;
    dbt enforces contracts on SQL models only). -#}

select
    k,
    method,
    threshold,
    support_weight,
    n_movies,
    overlap_at_10,
    top1_in_top10,
    is_default,
    model,
    run_id
from {{ ref('int_similar_movies_cold_start') }}
