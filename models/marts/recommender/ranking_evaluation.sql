{#- The contracted face of int_ranking_evaluation (a dbt Python model): dbt
    enforces contracts on SQL models only, on DuckDB and on Spark alike, so the
    public table is this select and the contract breaks the build, not a
    dashboard, when the Python side renames or retypes a column. -#}

select
    run_id,
    model,
    protocol,
    scope,
    precision_at_10,
    recall_at_10,
    ndcg_at_10,
    map_at_10,
    catalogue_coverage,
    distributional_coverage,
    novelty,
    intra_list_diversity,
    popularity_percentile,
    personalised_list_share,
    n_users_evaluated,
    n_users_eligible,
    is_user_sample,
    n_cold_start_test_rows,
    validation_ndcg_at_10,
    validation_precision_at_10,
    n_users_validated,
    is_served,
    serves_similarity,
    parameters,
    evaluation_seconds,
    library_versions
from {{ ref('int_ranking_evaluation') }}
