{#- The chosen explicit model (refit on train) against every scorable test rating.
    Cold-start test rows are not here: they are counted in als_model_runs. -#}

select
    run_id,
    user_id,
    movie_id,
    rating,
    prediction,
    prediction - rating as error
from {{ ref('als_predictions') }}
where split = 'test'
  and not is_cold_start
