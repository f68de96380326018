{#- The contracted face of int_als_grid_search (a dbt Python model; see
    ranking_evaluation.sql for why public tables are SQL). -#}

select
    run_id,
    config_id,
    method,
    rank,
    reg,
    iterations,
    burn_in,
    time_biases,
    biased,
    fold_rmse,
    mean_rmse,
    std_rmse,
    rmse_standard_error,
    complexity,
    fit_seconds,
    is_lowest_rmse,
    is_chosen,
    selection_rule,
    grid_name,
    solver,
    seed,
    tuning_strategy,
    n_tuning_ratings,
    n_tuning_users,
    dataset_fingerprint,
    library_versions
from {{ ref('int_als_grid_search') }}
