{#- The contracted face of int_ranking_evaluation_by_activity (a dbt Python
    model; contracts are enforced on SQL models only). -#}

select
    run_id,
    model,
    activity_bucket,
    bucket_order,
    min_train_ratings,
    max_train_ratings,
    n_users_evaluated,
    precision_at_10,
    recall_at_10,
    ndcg_at_10,
    map_at_10,
    is_served,
    is_user_sample
from {{ ref('int_ranking_evaluation_by_activity') }}
