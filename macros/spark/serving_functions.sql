{#- Spark's counterpart of the DuckDB table macros recommend_for / similar_to
    (macros/serving/create_serving_macros.sql): SQL table functions stored in
    the metastore, called the same way from any Spark SQL client:

        select * from cinemart.recommend_for(42, 10);
        select * from cinemart.similar_to(1, 10);

    Same scoring, exclusions and tie-breaks as the DuckDB macros; the dot
    product and cosine are computed in double precision over the FLOAT factor
    arrays (DuckDB's array functions return FLOAT), so scores agree to ~1e-6
    and ranks agree but for exact float ties. The functions read the tables
    of `table_schema` by name, serving_settings included (which model serves
    which list is looked up at query time, as the DuckDB macros do): created in
    the serving schema by publish_spark_build, they follow every publish and
    rollback. recommend_for answers a user without a factor row, or one the
    model cannot personalise (personalised_user), from popular_movies
    (source = 'popular_fallback'), as on DuckDB. -#}

{#- The hook creates the functions by running statements (Spark runs one
    statement per call), so it acts only when models were built: `dbt compile`
    or `dbt parse` must not change the metastore. -#}
{% macro spark__create_serving_macros() %}
  {%- if execute and flags.WHICH in ['run', 'build'] -%}
    {%- do spark_create_serving_functions(target.schema, target.schema) -%}
  {%- endif -%}
  {{ return('') }}
{% endmacro %}


{#- sum(a[i] * b[i]) for two equally long arrays. -#}
{% macro spark_dot(left, right) -%}
  aggregate(zip_with({{ left }}, {{ right }}, (l, r) -> cast(l as double) * cast(r as double)), cast(0 as double), (total, x) -> total + x)
{%- endmacro %}


{#- The factor rows of the model serving_settings names in `model_column`
    (recommendations_model | similar_movies_model), read at query time, with a
    `model` column; `tables` lists the (model, factor table) pairs that exist. -#}
{% macro spark_served_factors(table_schema, tables, model_column) -%}
  {%- for model, table in tables %}
      {{ 'select' if loop.first else 'union all select' }} '{{ model }}' as model, entity, id, bias, global_mean, n_ratings, factors
      from {{ table_schema }}.{{ table }}
      where (select max({{ model_column }}) from {{ table_schema }}.serving_settings) = '{{ model }}'
  {%- endfor %}
{%- endmacro %}


{#- Creates (or replaces) the two functions in `function_schema` over the
    tables in `table_schema`. Like the DuckDB macros they read serving_settings
    at query time (which model serves which list, the similar-movies minimum),
    so nothing of a run is baked in and they follow every publish and rollback.
    Does nothing (returns false) unless serving_settings and at least one
    factor table exist there. -#}
{% macro spark_create_serving_functions(function_schema, table_schema) %}
  {%- if adapter.get_relation(database=none, schema=table_schema, identifier='serving_settings') is none -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set tables = [] -%}
  {%- for model, table in [('implicit_als', 'implicit_factors'), ('explicit_als', 'als_factors'), ('popularity', 'popularity_factors'), ('ease', 'ease_factors'), ('ease_implicit_blend', 'blend_factors')] -%}
    {%- if adapter.get_relation(database=none, schema=table_schema, identifier=table) is not none -%}
      {%- do tables.append((model, table)) -%}
    {%- endif -%}
  {%- endfor -%}
  {%- if not tables -%}{{ return(false) }}{%- endif -%}
  {%- set has_fallback = adapter.get_relation(database=none, schema=table_schema, identifier='popular_movies') is not none -%}

  {% call statement('create_recommend_for') %}
  create or replace function {{ function_schema }}.recommend_for(target_user_id bigint, n int)
  returns table (rank int, movie_id bigint, title string, score double, model string, source string)
  return
    with factors as (
      {{- spark_served_factors(table_schema, tables, 'recommendations_model') }}
    ),
    target_user as (
      select factors, bias, global_mean from factors
      where entity = 'user' and id = target_user_id and {{ personalised_user('factors', 'bias') }}
    ),
    rated as (
      select movie_id from {{ table_schema }}.stg_movielens__ratings where user_id = target_user_id
    ),
    scored as (
      select
        movie.id as movie_id,
        movie.model,
        -- mu + b_u + b_i + p_u . q_i (implicit ALS and popularity carry zero biases and mean)
        {{ spark_dot('target_user.factors', 'movie.factors') }} + movie.bias + target_user.bias + target_user.global_mean as score,
        'personalised' as source
      from factors as movie
      cross join target_user
      left anti join rated on rated.movie_id = movie.id
      -- EASE's movies outside its budget scope carry bias -infinity: never a candidate, as in the tables
      where movie.entity = 'movie' and movie.bias > cast('-Infinity' as float)
    ),
    answered as (
      select movie_id, model, score, source from scored
      {%- if has_fallback %}
      union all
      -- no factor row the model can personalise from: the damped-mean list (empty when target_user is not)
      select popular.movie_id, 'popular_movies' as model, popular.score as score,
        'popular_fallback' as source
      from {{ table_schema }}.popular_movies as popular
      left anti join rated on rated.movie_id = popular.movie_id
      where not exists (select 1 from target_user)
      {%- endif %}
    ),
    ranked as (
      select
        cast(row_number() over (order by answered.score desc, answered.movie_id) as int) as rank,
        answered.movie_id,
        movies.title,
        answered.score,
        answered.model,
        answered.source
      from answered
      inner join {{ table_schema }}.movies as movies on answered.movie_id = movies.movie_id
    )
    select * from ranked where rank <= n
  {% endcall %}

  {#- similar_to reads the stored similarity vectors: only where a build made them -#}
  {%- if adapter.get_relation(database=none, schema=table_schema, identifier='int_movie_similarity_vectors') is not none %}
  {% call statement('create_similar_to') %}
  create or replace function {{ function_schema }}.similar_to(target_movie_id bigint, n int)
  returns table (rank int, similar_movie_id bigint, similar_title string, similarity double, model string,
                 source string)
  return
    with vectors as (
      -- score = query . candidate (cinemart.similarity.blend): collaborative cosine for
      -- movies with enough ratings, content below, blended in between
      select movie_id, model, source, is_query, is_candidate, query_vector, candidate_vector
      from {{ table_schema }}.int_movie_similarity_vectors
    ),
    target_movie as (
      select query_vector, source from vectors where movie_id = target_movie_id and is_query
    ),
    scored as (
      select
        candidates.movie_id,
        candidates.model,
        target_movie.source,
        least(greatest({{ spark_dot('target_movie.query_vector', 'candidates.candidate_vector') }}, -1.0), 1.0)
          as similarity
      from vectors as candidates
      cross join target_movie
      where candidates.is_candidate and candidates.movie_id <> target_movie_id
    ),
    ranked as (
      select
        cast(row_number() over (order by scored.similarity desc, scored.movie_id) as int) as rank,
        scored.movie_id as similar_movie_id,
        movies.title as similar_title,
        scored.similarity,
        scored.model,
        scored.source
      from scored
      inner join {{ table_schema }}.movies as movies on scored.movie_id = movies.movie_id
    )
    select * from ranked where rank <= n
  {% endcall %}
  {%- endif %}
  {{ return(true) }}
{% endmacro %}
