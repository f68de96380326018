{#- The train-part refit's test RMSE lands near the chosen configuration's CV
    RMSE: both are held-out errors of the same model on the same ratings.
    Measured on ml-latest-small (2026-12, DuckDB, default grid): CV 0.8515,
    test 0.8332 (the refit sees 5/4 of each fold's training data). Test
    ratings leaking into the fit (test RMSE near the train RMSE, 0.46) or
    predictions paired with the wrong ratings (RMSE > 1) land far outside
    the band. Small datasets (under 1,000 test ratings: the synthetic test
    folders) are too noisy to compare. Only the latest row is checked:
    als_model_runs is append-only. -#}
{%- set band = 0.1 -%}

select invocation_id, cv_rmse, train_rmse, test_rmse
from {{ ref('als_model_runs') }}
where finished_at = (select max(finished_at) from {{ ref('als_model_runs') }})
  and n_test >= 1000
  and (test_rmse is null or abs(test_rmse - cv_rmse) > {{ band }})
