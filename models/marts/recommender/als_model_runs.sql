{#- Append-only audit: one row per build of the explicit model.
    Rebuilding adds a row; nothing is ever overwritten. A full build carries
    every earlier row forward, one per invocation_id (macros/working_copy).
    On implicit feedback als_grid_search has no rows (the explicit model is
    not built): the build's row then has only its protocol and
    not_built_reason. -#}
{{ config(materialized='incremental', on_schema_change='append_new_columns') }}

with build as (

    select 1 as one

),

chosen as (

    select * from {{ ref('als_grid_search') }}
    where is_chosen

),

scored as (

    select
        split,
        count(*) as n_rows,
        -- integer sums cast to bigint: HUGEINT on DuckDB otherwise, bigint on Spark
        cast(sum(case when is_cold_start then 1 else 0 end) as bigint) as n_cold_start,
        sqrt(avg((rating - prediction) * (rating - prediction))) as rmse
    from {{ ref('als_predictions') }}
    group by split

),

served as (

    select
        min(run_id) as served_run_id,
        cast(sum(case when entity = 'user' then 1 else 0 end) as bigint) as n_users,
        cast(sum(case when entity = 'movie' then 1 else 0 end) as bigint) as n_movies
    from {{ ref('als_factors') }}

),

temporal_fit as (

    -- the chosen configuration fitted on the ratings up to the temporal cut (int_als_factors' 'temporal' fit)
    select * from {{ ref('int_als_factors') }} where fit = 'temporal'

),

temporal as (

    -- its RMSE on the ratings after the cut whose user and movie it has factors for, predictions clipped to
    -- the rating range as als_predictions clips them. The squared errors are summed as DECIMAL: exact, so
    -- the figure does not depend on how the engine's threads split a floating-point sum
    select
        count(*) as n_rows,
        sqrt(cast(sum(cast(power(least(greatest(
            movie.global_mean + person.bias + movie.bias + {{ dot_product('person.factors', 'movie.factors') }},
            0.5), 5.0) - ratings.rating, 2) as decimal(38, 18))) as double) / count(*)) as rmse
    from {{ ref('int_ratings_split') }} as ratings
    inner join temporal_fit as person on person.entity = 'user' and person.id = ratings.user_id
    inner join temporal_fit as movie on movie.entity = 'movie' and movie.id = ratings.movie_id
    where ratings.is_after_cut

),

grid as (

    select count(*) as n_configurations, sum(fit_seconds) as grid_fit_seconds
    from {{ ref('als_grid_search') }}

)

select
    '{{ invocation_id }}' as invocation_id,
    chosen.run_id,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as started_at,
    -- both ends in UTC: run_started_at is UTC, and the current time is
    -- converted to UTC (a plain cast would give the session's local time)
    {{ utc_now() }} as finished_at,
    chosen.dataset_fingerprint,
    {{ var('split_seed') | int }} as split_seed,
    {{ var('test_percent') | int }} as test_percent,
    {{ var('cv_folds') | int }} as cv_folds,
    chosen.grid_name,
    grid.n_configurations,
    chosen.tuning_strategy,
    chosen.n_tuning_ratings,
    chosen.n_tuning_users,
    chosen.rank,
    chosen.reg,
    chosen.iterations,
    chosen.biased,
    chosen.solver,
    chosen.seed,
    chosen.mean_rmse as cv_rmse,
    train.rmse as train_rmse,
    test.rmse as test_rmse,
    train.n_rows as n_train,
    test.n_rows as n_test,
    test.n_cold_start as cold_start_rows_dropped,
    served.served_run_id,
    served.n_users as n_served_users,
    served.n_movies as n_served_movies,
    chosen.library_versions,
    temporal.rmse as temporal_test_rmse,
    temporal.n_rows as n_temporal_test,
    chosen.method,
    chosen.burn_in,
    chosen.selection_rule,
    chosen.time_biases,
    case when chosen.run_id is null
         then 'the data are interactions without ratings (implicit feedback): explicit ALS predicts star ratings, '
              || 'so its tables are empty'
    end as not_built_reason
from build
left join chosen on true
cross join grid
cross join temporal
cross join served
left join scored as train on train.split = 'train'
left join scored as test on test.split = 'test'
