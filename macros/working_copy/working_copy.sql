{#- The dbt dev file (warehouse/build/cinemart.duckdb) is Cinemart's working
    copy: plain dbt commands and `cinemart build` both write it, and `cinemart
    publish` / `cinemart build` copy it to the served file only when it is a
    whole warehouse (models_py/cinemart/warehouse/publish.py). These hooks are
    how the file itself says whether it is whole. DuckDB target only. -#}


{#- on-run-start: record that a writing dbt command (build, run, seed,
    snapshot) started on this file. A command killed midway leaves its row
    unfinished, so a half-rewritten file never passes for a whole one. -#}
{% macro log_invocation_start() %}
  {%- if execute and target.type == 'duckdb' and flags.WHICH in ('build', 'run', 'seed', 'snapshot') -%}
    {%- set args = invocation_args_dict -%}
    {%- set selection = {'select': args.get('select'), 'exclude': args.get('exclude'),
                         'selector': args.get('selector'), 'empty': args.get('empty')} -%}
    {%- do run_query("create schema if not exists cinemart_meta") -%}
    {%- do run_query("create table if not exists cinemart_meta.dbt_invocations (invocation_id varchar, command varchar, "
                     ~ "selection varchar, started_at timestamp, finished_at timestamp, succeeded boolean, whole boolean)") -%}
    {%- do run_query("insert into cinemart_meta.dbt_invocations values ('" ~ invocation_id ~ "', '" ~ flags.WHICH ~ "', '"
                     ~ (selection | tojson | replace("'", "''")) ~ "', " ~ utc_now() ~ ", null, null, null)") -%}
  {%- endif -%}
{% endmacro %}


{#- on-run-end: the command's outcome. `whole` is true only for a green
    `dbt build` of the entire project (no --select / --exclude / --selector /
    --empty); `cinemart build --select` marks its own green runs whole, since
    it rebuilds everything downstream of the selection. -#}
{% macro log_invocation_end(results) %}
  {%- if execute and target.type == 'duckdb' and flags.WHICH in ('build', 'run', 'seed', 'snapshot') -%}
    {%- set args = invocation_args_dict -%}
    {%- set failed = results | selectattr('status', 'in', ['error', 'fail', 'runtime error', 'skipped']) | list -%}
    {%- set full = flags.WHICH == 'build' and not (args.get('select') or args.get('exclude') or args.get('selector') or args.get('empty')) -%}
    {%- set succeeded = failed | length == 0 -%}
    {%- do run_query("update cinemart_meta.dbt_invocations set finished_at = " ~ utc_now() ~ ", succeeded = " ~ succeeded
                     ~ ", whole = " ~ (succeeded and full) ~ " where invocation_id = '" ~ invocation_id ~ "'") -%}
  {%- endif -%}
{% endmacro %}


{#- on-run-start: a full `cinemart build` starts from an empty file and sets
    CINEMART_CARRY_FROM to a JSON list of files: the served warehouse,
    previous/ and the old working copies it set aside. Every incremental
    (append-only) model whose table is missing here gets the union of those
    files' rows, one per invocation_id (the key of every append-only model: the
    dbt invocation that appended the row), read through read-only ATTACHes
    (readers may hold the served file; a writer never opens it), so a row of an
    earlier build is neither lost nor doubled, and no whole file is copied. -#}
{% macro carry_forward_append_only() %}
  {%- set sources = fromjson(env_var('CINEMART_CARRY_FROM', '[]')) -%}
  {%- if execute and target.type == 'duckdb' and sources -%}
    {%- for source in sources -%}
      {%- do run_query("attach '" ~ (source | replace("'", "''")) ~ "' as cinemart_carry_" ~ loop.index ~ " (read_only)") -%}
    {%- endfor -%}
    {%- for node in graph.nodes.values()
          if node.resource_type == 'model' and node.config.materialized == 'incremental' -%}
      {%- set here = adapter.get_relation(database=node.database, schema=node.schema, identifier=node.alias) -%}
      {%- set holders = run_query("select database_name from duckdb_tables() where database_name like 'cinemart_carry_%' "
                                  ~ "and schema_name = '" ~ node.schema ~ "' and table_name = '" ~ node.alias ~ "'") -%}
      {%- if here is none and holders.rows | length > 0 -%}
        {%- set rows = [] -%}
        {%- for holder in holders.rows -%}
          {%- do rows.append("select * from " ~ holder[0] ~ "." ~ adapter.quote(node.schema) ~ "." ~ adapter.quote(node.alias)) -%}
        {%- endfor -%}
        {%- do run_query("create schema if not exists " ~ adapter.quote(node.schema)) -%}
        {%- do run_query("create table " ~ adapter.quote(node.schema) ~ "." ~ adapter.quote(node.alias)
                         ~ " as select distinct on (invocation_id) * from (" ~ rows | join(" union all by name ") ~ ")") -%}
        {#- dbt cached the (empty) file's relations before this hook: tell it the table exists now,
            or the incremental materialization would try to create it -#}
        {%- do adapter.cache_added(api.Relation.create(database=node.database, schema=node.schema,
                                                       identifier=node.alias, type='table')) -%}
        {{ log("carried " ~ node.alias ~ " forward from " ~ rows | length ~ " files", info=true) }}
      {%- endif -%}
    {%- endfor -%}
    {%- for source in sources -%}
      {%- do run_query("detach cinemart_carry_" ~ loop.index) -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}
