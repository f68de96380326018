{#- SQL serving: DuckDB table macros stored in the warehouse file, so any client
    can ask for fresh top-N lists without Python:

        select * from recommend_for(42, 10);
        select * from similar_to(1, 10);

    They score from the served model's factor tables with DuckDB array functions
    and agree with the materialized user_recommendations / similar_movies (a
    test compares them). Created after every build that produced the tables. -#}

{% macro create_serving_macros() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set evaluation = adapter.get_relation(database=target.database, schema=target.schema, identifier='ranking_evaluation') -%}
  {%- if evaluation is none -%}{{ return('') }}{%- endif -%}
  {%- set served = run_query("select model from " ~ evaluation ~ " where is_served") -%}
  {%- if served.rows | length != 1 -%}{{ return('') }}{%- endif -%}
  {%- set model = served.rows[0][0] -%}
  {%- set tables = {'implicit_als': ('implicit_user_factors', 'implicit_movie_factors'),
                    'explicit_als': ('user_factors', 'movie_factors')} -%}
  {%- if model not in tables -%}{{ return('') }}{%- endif -%}
  {%- set user_table, movie_table = tables[model] -%}
  {%- set min_ratings = var('similar_movies_min_ratings', 10) | int -%}
  {%- set schema = target.schema -%}

  create or replace macro {{ schema }}.recommend_for(target_user_id, n) as table
    with target_user as (
      select factors, bias, global_mean from {{ schema }}.{{ user_table }} where user_id = target_user_id
    ),
    scored as (
      select
        movie_factors.movie_id,
        -- mu + b_u + b_i + p_u . q_i (implicit ALS tables carry zero biases and mean)
        array_inner_product(target_user.factors, movie_factors.factors)
          + movie_factors.bias + target_user.bias + target_user.global_mean as score
      from {{ schema }}.{{ movie_table }} as movie_factors, target_user
      where not exists (
        select 1 from {{ schema }}.stg_movielens__ratings as rated
        where rated.user_id = target_user_id and rated.movie_id = movie_factors.movie_id
      )
    )
    select
      row_number() over (order by scored.score desc, scored.movie_id) as rank,
      scored.movie_id,
      movies.title,
      scored.score,
      '{{ model }}' as model
    from scored
    inner join {{ schema }}.movies as movies on scored.movie_id = movies.movie_id
    order by rank
    limit n;

  create or replace macro {{ schema }}.similar_to(target_movie_id, n) as table
    with target_movie as (
      select factors from {{ schema }}.{{ movie_table }}
      where movie_id = target_movie_id and n_ratings >= {{ min_ratings }}
        and array_inner_product(factors, factors) > 0
    ),
    scored as (
      select
        candidates.movie_id,
        array_cosine_similarity(target_movie.factors, candidates.factors) as similarity
      from {{ schema }}.{{ movie_table }} as candidates, target_movie
      where candidates.movie_id <> target_movie_id
        and candidates.n_ratings >= {{ min_ratings }}
        -- all-zero factors (no signal for the model) have no cosine
        and array_inner_product(candidates.factors, candidates.factors) > 0
    )
    select
      row_number() over (order by scored.similarity desc, scored.movie_id) as rank,
      scored.movie_id as similar_movie_id,
      movies.title as similar_title,
      scored.similarity,
      '{{ model }}' as model
    from scored
    inner join {{ schema }}.movies as movies on scored.movie_id = movies.movie_id
    order by rank
    limit n;
{% endmacro %}
