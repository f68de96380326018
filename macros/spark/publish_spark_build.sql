{#- Publishing a Spark build: what readers see while dbt rebuilds.

    dbt-spark rebuilds a parquet table by dropping it and writing it again, so
    a reader of the build schema can hit a missing or half-written table. Readers
    therefore never read the build schema. They read the serving schema
    (`cinemart`), where every table is a view onto an immutable, versioned copy:

        dbt build --target spark                      -> cinemart_build.<table>
        dbt run-operation publish_spark_build --target spark
            1. copies every table of the build schema into a new schema
               cinemart__v<timestamp> (parquet, written once, never changed);
            2. repoints each view cinemart.<table> at it (alter view ... as:
               one metastore update per view, atomic for a reader);
            3. records the served and the previous version, with the UTC time it
               was served, in cinemart.serving_history (one row per publish and
               rollback; the view cinemart.serving_version is its latest row),
               recreates recommend_for / similar_to over the views, and drops
               versions older than the previous one.
        dbt run-operation publish_spark_build --args '{rollback: true}' --target spark
            serves the previous version again (run it twice to undo).

    A query started before a swap finishes on the version it resolved (its
    files are not deleted: the previous version is kept). Each view swaps on
    its own: a query joining two serving views during a publish may see the
    new version of one and the old of the other; a reader that needs one
    consistent version reads cinemart.serving_version and queries that
    cinemart__v<version> schema directly.

    Only a whole, green build is published: the operation refuses, in one
    line, unless the last dbt command that wrote the build schema was a green
    full `dbt build` (its record: macros/spark/build_log.sql). The append-only
    tables (als_model_runs) are published as the union of the build's rows and
    the served and previous versions' rows, one per invocation_id, so a
    `--full-refresh` or a recreated build schema loses no published row. -#}

{% macro publish_spark_build(serving_schema=none, rollback=false) %}
  {%- if target.type not in ['spark', 'databricks'] -%}
    {{ exceptions.raise_compiler_error("publish_spark_build is for --target spark; a DuckDB build is published by `cinemart build`") }}
  {%- endif -%}
  {%- set serving = serving_schema or var('spark_serving_schema', env_var('CINEMART_SPARK_SERVING_SCHEMA', 'cinemart')) -%}
  {%- if serving == target.schema -%}
    {{ exceptions.raise_compiler_error("the serving schema must differ from the build schema '" ~ target.schema ~ "'") }}
  {%- endif -%}
  {%- if not rollback -%}
    {%- set problem = spark_build_problem(target.schema) -%}
    {%- if problem is not none -%}
      {{ exceptions.raise_compiler_error("cannot publish: " ~ problem ~ ". Run a full `dbt build --target spark` "
                                         ~ "(or `cinemart build --engine spark`) first; " ~ serving ~ " is unchanged") }}
    {%- endif -%}
  {%- endif -%}
  {%- do run_query('create schema if not exists ' ~ serving) -%}
  {%- set current = spark_served_versions(serving) -%}

  {%- if rollback -%}
    {%- if current.previous is none -%}
      {{ exceptions.raise_compiler_error("nothing to roll back to: " ~ serving ~ " has no previous version") }}
    {%- endif -%}
    {%- do spark_serve_version(serving, current.previous, current.served) -%}
    {{ log("serving " ~ serving ~ " version " ~ current.previous ~ " again (was " ~ current.served ~ ")", info=true) }}
    {{ return(current.previous) }}
  {%- endif -%}

  {%- set tables = spark_tables_in(target.schema) -%}
  {%- if tables | length == 0 -%}
    {{ exceptions.raise_compiler_error("nothing to publish: the build schema " ~ target.schema ~ " has no tables") }}
  {%- endif -%}
  {%- set version = run_started_at.strftime('%Y%m%d%H%M%S%f') -%}
  {%- set version_schema = serving ~ '__v' ~ version -%}
  {%- set append_only = spark_append_only_tables() -%}
  {%- do run_query('create schema ' ~ version_schema) -%}
  {%- for table in tables -%}
    {%- if table in append_only -%}
      {%- set query = spark_append_only_union(table, [target.schema] + spark_versions_holding(serving, table)) -%}
    {%- else -%}
      {%- set query = 'select * from ' ~ target.schema ~ '.' ~ table -%}
    {%- endif -%}
    {%- do run_query('create table ' ~ version_schema ~ '.' ~ table ~ ' using parquet as ' ~ query) -%}
  {%- endfor -%}
  {%- do spark_serve_version(serving, version, current.served) -%}
  {%- for schema in spark_version_schemas(serving) if schema not in [version_schema, serving ~ '__v' ~ current.served] -%}
    {%- do run_query('drop schema ' ~ schema ~ ' cascade') -%}
  {%- endfor -%}
  {{ log("published " ~ tables | length ~ " tables of " ~ target.schema ~ " as " ~ serving ~ " version " ~ version, info=true) }}
  {%- do spark_log_headline(serving) -%}
  {{ return(version) }}
{% endmacro %}


{#- The figures `cinemart build` prints after a DuckDB build, read from the
    serving views just published (tables a --select build lacks are skipped). -#}
{% macro spark_log_headline(serving) %}
  {%- set views = spark_views_in(serving) -%}
  {%- set lines = [] -%}
  {%- if 'dataset_overview' in views -%}
    {%- set o = run_query('select n_users, n_movies, n_rated_movies, n_unrated_movies, n_ratings, n_quarantined_ratings, '
                          ~ 'min_ratings_per_user, feedback from ' ~ serving ~ '.dataset_overview').rows[0] -%}
    {%- do lines.append(('users', '{:,}'.format(o[0]))) -%}
    {%- do lines.append(('movies (rated / unrated)', '{:,} ({:,} / {:,})'.format(o[1], o[2], o[3]))) -%}
    {%- do lines.append(('ratings', '{:,}'.format(o[4]) ~ (' interactions (implicit feedback)' if o[7] == 'implicit' else ''))) -%}
    {%- do lines.append(('quarantined ratings', '{:,}'.format(o[5]))) -%}
    {%- do lines.append(('min ratings per user', '{:,}'.format(o[6]))) -%}
  {%- endif -%}
  {%- if 'als_model_runs' in views -%}
    {%- set r = run_query('select test_rmse, rank, reg, iterations, not_built_reason from ' ~ serving
                          ~ '.als_model_runs order by finished_at desc limit 1').rows[0] -%}
    {%- if r[4] -%}
      {%- do lines.append(('explicit ALS test RMSE', 'not built: ' ~ r[4])) -%}
    {%- else -%}
      {%- do lines.append(('explicit ALS test RMSE', '{:.4f} (rank {}, reg {}, {} iterations)'.format(r[0], r[1], r[2], r[3]))) -%}
    {%- endif -%}
  {%- endif -%}
  {%- if 'ranking_evaluation' in views -%}
    {%- set e = run_query('select precision_at_10, model from ' ~ serving ~ '.ranking_evaluation where is_served').rows[0] -%}
    {%- do lines.append(('served model precision@10', '{:.4f} ({})'.format(e[0], e[1]))) -%}
  {%- endif -%}
  {%- for label, value in lines -%}
    {{ log('  ' ~ '{:<28}'.format(label) ~ ' ' ~ value, info=true) }}
  {%- endfor -%}
{% endmacro %}


{#- Point every serving view at `version`'s tables (dropping views of tables
    the version lacks), record it, and recreate the serving functions. -#}
{% macro spark_serve_version(serving, version, previous) %}
  {%- set version_schema = serving ~ '__v' ~ version -%}
  {%- set tables = spark_tables_in(version_schema) -%}
  {#- An existing view is repointed with ALTER VIEW ... AS: one metastore alter, so a
      reader always finds it. Spark's `create or replace view` drops the view and
      creates it again, and a reader in between got TABLE_OR_VIEW_NOT_FOUND. -#}
  {%- set existing = spark_views_in(serving) -%}
  {%- for table in tables -%}
    {%- set verb = 'alter view ' if table in existing else 'create view ' -%}
    {%- do run_query(verb ~ serving ~ '.' ~ table ~ ' as select * from ' ~ version_schema ~ '.' ~ table) -%}
  {%- endfor -%}
  {%- for view in existing if view not in tables and view != 'serving_version' -%}
    {%- do run_query('drop view ' ~ serving ~ '.' ~ view) -%}
  {%- endfor -%}
  {#- The time it is served, stored once in UTC; serving_version is the history's latest row. -#}
  {%- do run_query('create table if not exists ' ~ serving ~ '.serving_history (version string, previous_version string, '
                   ~ 'served_since timestamp) using parquet') -%}
  {%- do run_query("insert into " ~ serving ~ ".serving_history select '" ~ version ~ "', "
                   ~ ("'" ~ previous ~ "'" if previous else "cast(null as string)") ~ ", " ~ utc_now()) -%}
  {%- set verb = 'alter view ' if 'serving_version' in existing else 'create view ' -%}
  {%- do run_query(verb ~ serving ~ ".serving_version as select version, previous_version, served_since from "
                   ~ serving ~ ".serving_history order by served_since desc limit 1") -%}
  {%- if not spark_create_serving_functions(serving, serving) -%}
    {#- a version without the recommender tables: no functions over missing views -#}
    {%- do run_query('drop function if exists ' ~ serving ~ '.recommend_for') -%}
    {%- do run_query('drop function if exists ' ~ serving ~ '.similar_to') -%}
  {%- endif -%}
{% endmacro %}


{#- {served, previous} versions of the serving schema (none before the first publish). -#}
{% macro spark_served_versions(serving) %}
  {%- if 'serving_version' not in spark_views_in(serving) -%}
    {{ return({'served': none, 'previous': none}) }}
  {%- endif -%}
  {%- set row = run_query('select version, previous_version from ' ~ serving ~ '.serving_version').rows[0] -%}
  {{ return({'served': row[0], 'previous': row[1]}) }}
{% endmacro %}


{% macro spark_tables_in(schema) %}
  {%- set views = spark_views_in(schema) -%}
  {%- set rows = run_query('show tables in ' ~ schema).rows -%}
  {{ return(rows | rejectattr('isTemporary') | map(attribute='tableName') | reject('in', views) | list) }}
{% endmacro %}


{% macro spark_views_in(schema) %}
  {{ return(run_query('show views in ' ~ schema).rows | rejectattr('isTemporary') | map(attribute='viewName') | list) }}
{% endmacro %}


{% macro spark_version_schemas(serving) %}
  {%- set rows = run_query("show schemas like '" ~ serving ~ "__v*'").rows -%}
  {{ return(rows | map(attribute=0) | list) }}
{% endmacro %}
