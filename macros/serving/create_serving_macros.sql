{#- SQL serving: DuckDB table macros stored in the warehouse file, so any client
    can ask for fresh top-N lists without Python:

        select * from recommend_for(42, 10);
        select * from similar_to(1, 10);

    They read which model serves which list, and its settings, from the
    serving_settings table at query time (nothing about a run is baked in), score
    from that model's factor table with the formula of cinemart.serving.scoring
    (dot product + movie bias + user bias + mean in DOUBLE; for similar movies
    the stored query . candidate vectors of cinemart.similarity.blend; ties by
    movie_id), and agree with the materialized user_recommendations
    / similar_movies (a test compares them for every model type). Created after
    every build that produced the tables.
    recommend_for never answers with nothing: a user the served model has no
    factor row for (a new user id), or one it cannot personalise (an all-zero
    row: personalised_user, the rule of cinemart.models.base.Factors.personalised),
    gets the top of popular_movies, the damped-mean fallback, as
    user_recommendations lists it. Its `source` column says which: 'personalised'
    (scored by the served model, `model` names it) or 'popular_fallback'
    (`model` is 'popular_movies', `score` its damped mean rating).
    On Spark the same two names are SQL table functions
    (macros/spark/serving_functions.sql). -#}

{% macro create_serving_macros() %}
  {{ return(adapter.dispatch('create_serving_macros', 'cinemart')()) }}
{% endmacro %}

{% macro default__create_serving_macros() %}
  {#- refs first, outside any condition, so dbt records them when it parses the hook -#}
  {%- set relations = {
        'serving_settings': ref('serving_settings'), 'stg_movielens__ratings': ref('stg_movielens__ratings'),
        'movies': ref('movies'), 'implicit_factors': ref('implicit_factors'), 'als_factors': ref('als_factors'),
        'popularity_factors': ref('popularity_factors'), 'ease_factors': ref('ease_factors'),
        'blend_factors': ref('blend_factors'), 'popular_movies': ref('popular_movies'),
        'int_movie_similarity_vectors': ref('int_movie_similarity_vectors')} -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {#- schema-qualified only: the catalog is named after the file, and a copied or renamed file must keep working -#}
  {%- for name, relation in relations.items() -%}{%- do relations.update({name: relation.include(database=False)}) -%}{%- endfor -%}
  {%- set settings_table = adapter.get_relation(database=target.database, schema=target.schema, identifier='serving_settings') -%}
  {%- if settings_table is none -%}{{ return('') }}{%- endif -%}
  {%- set schema = target.schema -%}

  create or replace macro {{ schema }}.served_factors(role) as table
    -- the factor rows of the model serving_settings names for `role`, as DOUBLE lists
    with chosen as (
      select case when role = 'recommendations' then recommendations_model else similar_movies_model end as model
      from {{ relations['serving_settings'] }}
    )
    {%- for model, table in [('implicit_als', 'implicit_factors'), ('explicit_als', 'als_factors'), ('popularity', 'popularity_factors'), ('ease', 'ease_factors'), ('ease_implicit_blend', 'blend_factors')] %}
    {{ 'select' if loop.first else 'union all select' }} '{{ model }}' as model, entity, id, bias, global_mean, n_ratings,
      cast(factors as double[]) as factors
    from {{ relations[table] }} where (select model from chosen) = '{{ model }}'
    {%- endfor %};

  create or replace macro {{ schema }}.recommend_for(target_user_id, n) as table
    with factors as (
      select * from {{ schema }}.served_factors('recommendations')
    ),
    target_user as (
      select factors, bias, global_mean from factors
      where entity = 'user' and id = target_user_id and {{ personalised_user('factors', 'bias') }}
    ),
    scored as (
      select
        movie.id as movie_id,
        movie.model,
        -- p_u . q_i + b_i + b_u + mu (implicit ALS and popularity carry zero biases and mean)
        list_inner_product(target_user.factors, movie.factors)
          + movie.bias + target_user.bias + target_user.global_mean as score,
        'personalised' as source
      from factors as movie, target_user
      where movie.entity = 'movie'
        -- EASE's movies outside its budget scope carry bias -infinity: never a candidate, as in the tables
        and isfinite(movie.bias)
        and not exists (
          select 1 from {{ relations['stg_movielens__ratings'] }} as rated
          where rated.user_id = target_user_id and rated.movie_id = movie.id
        )
    ),
    fallback as (
      -- no factor row the model can personalise from: the damped-mean list (empty when target_user is not)
      select popular.movie_id, 'popular_movies' as model, popular.score as score,
        'popular_fallback' as source
      from {{ relations['popular_movies'] }} as popular
      where not exists (select 1 from target_user)
        and not exists (
          select 1 from {{ relations['stg_movielens__ratings'] }} as rated
          where rated.user_id = target_user_id and rated.movie_id = popular.movie_id
        )
    ),
    answered as (
      select * from scored
      union all
      select * from fallback
    )
    select
      row_number() over (order by answered.score desc, answered.movie_id) as rank,
      answered.movie_id,
      movies.title,
      answered.score,
      answered.model,
      answered.source
    from answered
    inner join {{ relations['movies'] }} as movies on answered.movie_id = movies.movie_id
    order by rank
    limit n;

  create or replace macro {{ schema }}.similar_to(target_movie_id, n) as table
    -- score = query . candidate from int_movie_similarity_vectors (cinemart.similarity.blend):
    -- collaborative cosine for movies with enough ratings, content below, blended in between
    with vectors as (
      select movie_id, model, source, is_query, is_candidate,
        cast(query_vector as double[]) as query_vector, cast(candidate_vector as double[]) as candidate_vector
      from {{ relations['int_movie_similarity_vectors'] }}
    ),
    target_movie as (
      select query_vector, source from vectors where movie_id = target_movie_id and is_query
    ),
    scored as (
      select
        candidates.movie_id,
        candidates.model,
        target_movie.source,
        least(greatest(list_inner_product(target_movie.query_vector, candidates.candidate_vector), -1.0), 1.0)
          as similarity
      from vectors as candidates, target_movie
      where candidates.is_candidate and candidates.movie_id <> target_movie_id
    )
    select
      row_number() over (order by scored.similarity desc, scored.movie_id) as rank,
      scored.movie_id as similar_movie_id,
      movies.title as similar_title,
      scored.similarity,
      scored.model,
      scored.source
    from scored
    inner join {{ relations['movies'] }} as movies on scored.movie_id = movies.movie_id
    order by rank
    limit n;
{% endmacro %}
