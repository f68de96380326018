{#- The contracted face of int_blend_factors (a dbt Python model; see
    ranking_evaluation.sql for why public tables are SQL). -#}

select run_id, entity, id, bias, factors, n_ratings, global_mean
from {{ ref('int_blend_factors') }}
