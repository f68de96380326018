{#- SQL serving: DuckDB table macros stored in the warehouse file, so any client
    can ask for fresh top-N lists without Python:

        select * from recommend_for(42, 10);
        select * from similar_to(1, 10);

    They score from the factor tables of the models ranking_evaluation flags
    (is_served for recommendations, serves_similarity for similar movies) with
    DuckDB array functions, and agree with the materialized user_recommendations
    / similar_movies (a test compares them). Created after every build that
    produced the tables. On Spark the same two names are SQL table functions
    (macros/spark/serving_functions.sql). -#}

{% macro create_serving_macros() %}
  {{ return(adapter.dispatch('create_serving_macros', 'cinemart')()) }}
{% endmacro %}

{% macro default__create_serving_macros() %}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set evaluation = adapter.get_relation(database=target.database, schema=target.schema, identifier='ranking_evaluation') -%}
  {%- if evaluation is none -%}{{ return('') }}{%- endif -%}
  {%- set flags = run_query("select (select model from " ~ evaluation ~ " where is_served), "
                            ~ "(select model from " ~ evaluation ~ " where serves_similarity)") -%}
  {%- set served, taste = flags.rows[0][0], flags.rows[0][1] -%}
  {%- set tables = {'implicit_als': 'implicit_factors', 'explicit_als': 'als_factors', 'popularity': 'popularity_factors'} -%}
  {%- if served not in tables or taste not in tables -%}{{ return('') }}{%- endif -%}
  {%- set min_ratings = var('similar_movies_min_ratings', 10) | int -%}
  {%- set schema = target.schema -%}

  create or replace macro {{ schema }}.recommend_for(target_user_id, n) as table
    with factors as (
      select * from {{ schema }}.{{ tables[served] }}
    ),
    target_user as (
      select factors, bias, global_mean from factors where entity = 'user' and id = target_user_id
    ),
    scored as (
      select
        movie.id as movie_id,
        -- mu + b_u + b_i + p_u . q_i (implicit ALS and popularity carry zero biases and mean)
        array_inner_product(target_user.factors, movie.factors)
          + movie.bias + target_user.bias + target_user.global_mean as score
      from factors as movie, target_user
      where movie.entity = 'movie'
        and not exists (
          select 1 from {{ schema }}.stg_movielens__ratings as rated
          where rated.user_id = target_user_id and rated.movie_id = movie.id
        )
    )
    select
      row_number() over (order by scored.score desc, scored.movie_id) as rank,
      scored.movie_id,
      movies.title,
      scored.score,
      '{{ served }}' as model
    from scored
    inner join {{ schema }}.movies as movies on scored.movie_id = movies.movie_id
    order by rank
    limit n;

  create or replace macro {{ schema }}.similar_to(target_movie_id, n) as table
    with eligible as (
      -- enough ratings, and a direction: all-zero factors have no cosine
      select id as movie_id, factors from {{ schema }}.{{ tables[taste] }}
      where entity = 'movie' and n_ratings >= {{ min_ratings }}
        and array_inner_product(factors, factors) > 0
    ),
    target_movie as (
      select factors from eligible where movie_id = target_movie_id
    ),
    scored as (
      select
        candidates.movie_id,
        array_cosine_similarity(target_movie.factors, candidates.factors) as similarity
      from eligible as candidates, target_movie
      where candidates.movie_id <> target_movie_id
    )
    select
      row_number() over (order by scored.similarity desc, scored.movie_id) as rank,
      scored.movie_id as similar_movie_id,
      movies.title as similar_title,
      scored.similarity,
      '{{ taste }}' as model
    from scored
    inner join {{ schema }}.movies as movies on scored.movie_id = movies.movie_id
    order by rank
    limit n;
{% endmacro %}
