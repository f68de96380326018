{#- The served model is chosen on the validation fold of train, never on test:
    the row flagged is_served must hold the best validation NDCG@10, and the
    flag serves_similarity the best among the taste models. Any row returned
    is a model chosen on something else. -#}
with ranked as (
    select
        model,
        is_served,
        serves_similarity,
        validation_ndcg_at_10,
        max(validation_ndcg_at_10) over () as best,
        max(case when model in ('implicit_als', 'explicit_als') then validation_ndcg_at_10 end) over () as best_taste
    from {{ ref('ranking_evaluation') }}
)
select model, validation_ndcg_at_10, best, best_taste
from ranked
where (is_served and validation_ndcg_at_10 < best)
   or (serves_similarity and validation_ndcg_at_10 < best_taste)
   or (select count(*) from ranked where is_served) != 1
