{#- Serving a published Spark build from a Spark Thrift Server (HiveServer2).

    The build's metastore is embedded Derby, which one JVM opens at a time,
    and the build's JVM holds it for the whole build. So the Thrift Server
    keeps a metastore of its own and mirrors what the build published:

        dbt run-operation mirror_spark_serving --target spark_thrift \
            --args '{version: ..., tables: [...], version_dir: ...}'

    registers each table of the published, immutable version as an external
    parquet table over the files the build wrote (cinemart__v<version>.db/<table>),
    then repoints the serving views and recreates recommend_for / similar_to
    with the same macro the publish step uses (spark_serve_version). External
    tables: dropping a mirrored version drops its metastore entries only, never
    the build's files. `cinemart serve --engine spark` runs this after every
    publish and rollback it sees (cinemart/spark/readers/mirror.py). -#}

{% macro mirror_spark_serving(version, tables, version_dir, serving_schema=none) %}
  {%- if target.type != 'spark' or target.method == 'session' -%}
    {{ exceptions.raise_compiler_error("mirror_spark_serving is for the Thrift Server target (--target spark_thrift); "
                                       ~ "a session build is published by publish_spark_build") }}
  {%- endif -%}
  {%- if not tables -%}
    {{ exceptions.raise_compiler_error("nothing to mirror: version " ~ version ~ " has no tables") }}
  {%- endif -%}
  {%- set serving = serving_schema or var('spark_serving_schema', env_var('CINEMART_SPARK_SERVING_SCHEMA', 'cinemart')) -%}
  {%- do run_query('create schema if not exists ' ~ serving) -%}
  {%- set current = spark_served_versions(serving) -%}
  {%- if current.served == version -%}
    {{ log(serving ~ " already serves version " ~ version, info=true) }}
    {{ return(version) }}
  {%- endif -%}
  {%- set version_schema = serving ~ '__v' ~ version -%}
  {%- do run_query('create schema if not exists ' ~ version_schema) -%}
  {%- for table in tables -%}
    {%- do run_query('create table if not exists ' ~ version_schema ~ '.' ~ table ~ " using parquet location '"
                     ~ version_dir ~ '/' ~ table ~ "'") -%}
  {%- endfor -%}
  {%- do spark_serve_version(serving, version, current.served) -%}
  {%- for schema in spark_version_schemas(serving) if schema not in [version_schema, serving ~ '__v' ~ current.served] -%}
    {%- do run_query('drop schema ' ~ schema ~ ' cascade') -%}
  {%- endfor -%}
  {{ log("mirrored " ~ tables | length ~ " tables of " ~ serving ~ " version " ~ version, info=true) }}
  {{ return(version) }}
{% endmacro %}
