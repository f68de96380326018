{#- bias and global_mean are 0: implicit ALS scores are plain dot products. They
    are kept so both factor models share one scoring formula in SQL. -#}
select
    id as user_id,
    bias,
    factors,
    n_ratings,
    global_mean,
    'implicit_als' as model,
    run_id
from {{ ref('implicit_factors') }}
where entity = 'user'
