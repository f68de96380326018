{#- The Spark build schema's own record of the dbt commands that wrote it, and
    the append-only history carried into it: what lets publish_spark_build
    publish whole, green builds only without losing an audit row.

    Each writing dbt command (build, run, seed, snapshot) on --target spark
    appends a 'start' row at on-run-start and an 'end' row (succeeded, whole) at
    on-run-end to <build schema>_meta.dbt_invocations. The latest row decides:
    a 'start' row alone is a command that never finished; `whole` is true only
    for a green `dbt build` of the entire project (no --select / --exclude /
    --selector / --empty). Rows are appended, never updated (parquet tables have
    no UPDATE). The log lives beside the build schema, not in it, so it is never
    published. -#}


{% macro spark_build_log(schema) %}
  {{ return(schema ~ '_meta.dbt_invocations') }}
{% endmacro %}


{% macro spark_is_target() %}
  {{ return(target.type in ['spark', 'databricks']) }}
{% endmacro %}


{% macro spark_log_invocation(event, succeeded=none, whole=none) %}
  {%- set args = invocation_args_dict -%}
  {%- set selection = {'select': args.get('select'), 'exclude': args.get('exclude'),
                       'selector': args.get('selector'), 'empty': args.get('empty')} -%}
  {%- set log = spark_build_log(target.schema) -%}
  {%- do run_query('create schema if not exists ' ~ target.schema ~ '_meta') -%}
  {%- do run_query('create table if not exists ' ~ log ~ ' (invocation_id string, command string, selection string, '
                   ~ 'event string, at timestamp, succeeded boolean, whole boolean) using parquet') -%}
  {%- do run_query("insert into " ~ log ~ " select '" ~ invocation_id ~ "', '" ~ flags.WHICH ~ "', '"
                   ~ (selection | tojson | replace("\\", "\\\\") | replace("'", "\\'")) ~ "', '" ~ event ~ "', "
                   ~ utc_now() ~ ", "
                   ~ ("cast(null as boolean)" if succeeded is none else succeeded | string | lower) ~ ", "
                   ~ ("cast(null as boolean)" if whole is none else whole | string | lower)) -%}
{% endmacro %}


{#- on-run-start: a writing command started on the build schema. -#}
{% macro spark_log_invocation_start() %}
  {%- if execute and spark_is_target() and flags.WHICH in ('build', 'run', 'seed', 'snapshot') -%}
    {%- do spark_log_invocation('start') -%}
  {%- endif -%}
{% endmacro %}


{#- on-run-end: its outcome. -#}
{% macro spark_log_invocation_end(results) %}
  {%- if execute and spark_is_target() and flags.WHICH in ('build', 'run', 'seed', 'snapshot') -%}
    {%- set args = invocation_args_dict -%}
    {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error', 'skipped']) | list -%}
    {%- set full = flags.WHICH == 'build' and not (args.get('select') or args.get('exclude') or args.get('selector') or args.get('empty')) -%}
    {%- set succeeded = failed | length == 0 -%}
    {%- do spark_log_invocation('end', succeeded, succeeded and full) -%}
  {%- endif -%}
{% endmacro %}


{#- Why the build schema is not a whole, green build, or none when it is one. -#}
{% macro spark_build_problem(schema) %}
  {%- set log = spark_build_log(schema) -%}
  {%- set logged = run_query("show schemas like '" ~ schema ~ "_meta'").rows | length > 0
                   and run_query("show tables in " ~ schema ~ "_meta like 'dbt_invocations'").rows | length > 0 -%}
  {%- set last = run_query("select command, selection, event, succeeded, whole from " ~ log
                           ~ " order by at desc, case when event = 'end' then 0 else 1 end limit 1").rows if logged else [] -%}
  {%- if last | length == 0 -%}
    {{ return("the build schema " ~ schema ~ " has no record of the dbt build that made it") }}
  {%- endif -%}
  {%- set command, selection, event, succeeded, whole = last[0] -%}
  {%- if event != 'end' -%}
    {{ return("the last dbt " ~ command ~ " on " ~ schema ~ " never finished (killed?)") }}
  {%- elif not succeeded -%}
    {{ return("the last dbt " ~ command ~ " on " ~ schema ~ " failed") }}
  {%- elif not whole -%}
    {%- set flags_text = [] -%}
    {%- for name, value in (fromjson(selection or '{}')).items() if value and name != 'empty' -%}
      {%- do flags_text.append(' --' ~ name ~ ' ' ~ (value | join(' ') if value is iterable and value is not string else value)) -%}
    {%- endfor -%}
    {%- if (fromjson(selection or '{}')).get('empty') -%}{%- do flags_text.append(' --empty') -%}{%- endif -%}
    {{ return("the last dbt command on " ~ schema ~ " was `dbt " ~ command ~ flags_text | join('')
              ~ "`, not a full `dbt build`: tables downstream of what it wrote may be stale") }}
  {%- endif -%}
  {{ return(none) }}
{% endmacro %}


{#- The version schemas of the serving schema, served and previous, that hold `table`. -#}
{% macro spark_versions_holding(serving, table) %}
  {%- set holders = [] -%}
  {%- for schema in spark_version_schemas(serving) if table in spark_tables_in(schema) -%}
    {%- do holders.append(schema) -%}
  {%- endfor -%}
  {{ return(holders) }}
{% endmacro %}


{#- A select of the union of `schemas`.`table`, one row per invocation_id (the
    key of every append-only model: the dbt invocation that appended the row),
    the first schema's row winning. Columns are the union of the tables'
    (on_schema_change='append_new_columns' may have added some), NULL where a
    table lacks one. -#}
{% macro spark_append_only_union(table, schemas) %}
  {%- set columns = [] -%}
  {%- set types = {} -%}
  {%- set present = {} -%}
  {%- for schema in schemas -%}
    {%- set mine = [] -%}
    {%- for row in run_query('describe ' ~ schema ~ '.' ~ table).rows -%}
      {%- if row[0] and not row[0].startswith('#') and row[0] not in mine -%}
        {%- do mine.append(row[0]) -%}
        {%- if row[0] not in types -%}{%- do columns.append(row[0]) -%}{%- do types.update({row[0]: row[1]}) -%}{%- endif -%}
      {%- endif -%}
    {%- endfor -%}
    {%- do present.update({schema: mine}) -%}
  {%- endfor -%}
  {%- set parts = [] -%}
  {%- for schema in schemas -%}
    {%- set picked = [] -%}
    {%- for column in columns -%}
      {%- do picked.append('`' ~ column ~ '`' if column in present[schema]
                           else 'cast(null as ' ~ types[column] ~ ') as `' ~ column ~ '`') -%}
    {%- endfor -%}
    {%- do parts.append('select ' ~ picked | join(', ') ~ ', ' ~ loop.index ~ ' as cinemart_carry_rank from '
                        ~ schema ~ '.' ~ table) -%}
  {%- endfor -%}
  {{ return('select `' ~ columns | join('`, `') ~ '` from (select *, row_number() over (partition by invocation_id '
            ~ 'order by cinemart_carry_rank) as cinemart_carry_row from (' ~ parts | join(' union all ')
            ~ ')) where cinemart_carry_row = 1') }}
{% endmacro %}


{#- The aliases of the project's append-only (incremental) models. -#}
{% macro spark_append_only_tables() %}
  {%- set names = [] -%}
  {%- for node in graph.nodes.values()
        if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
    {%- do names.append(node.alias) -%}
  {%- endfor -%}
  {{ return(names) }}
{% endmacro %}


{#- on-run-start: an append-only model whose table is missing from the build
    schema (a new build schema, one dropped, a fresh metastore beside the served
    versions) starts from the union of the published versions' rows, one per
    invocation_id, as on DuckDB (macros/working_copy). -#}
{% macro spark_carry_append_only() %}
  {%- if execute and spark_is_target() and flags.WHICH in ('build', 'run') -%}
    {%- set serving = var('spark_serving_schema', env_var('CINEMART_SPARK_SERVING_SCHEMA', 'cinemart')) -%}
    {%- for node in graph.nodes.values()
          if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
      {%- set here = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
      {%- set holders = spark_versions_holding(serving, node.alias) if here is none else [] -%}
      {%- if holders -%}
        {%- do run_query('create schema if not exists ' ~ node.schema) -%}
        {%- do run_query('create table ' ~ node.schema ~ '.' ~ node.alias ~ ' using parquet as '
                         ~ spark_append_only_union(node.alias, holders)) -%}
        {%- do adapter.cache_added(api.Relation.create(database=node.database, schema=node.schema,
                                                       identifier=node.alias, type='table')) -%}
        {{ log("carried " ~ node.alias ~ " forward from " ~ holders | join(', '), info=true) }}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}
