{#- The dataset layout dbt was pointed at (see models/staging/_movielens__sources.yml). -#}
{% macro movielens_format() -%}
  {%- set f = var('movielens_format', env_var('CINEMART_DATA_FORMAT', 'csv')) -%}
  {%- if f not in ['csv', 'dat', '100k'] -%}
    {{ exceptions.raise_compiler_error("movielens_format '" ~ f ~ "' is not known; allowed: csv, dat, 100k") }}
  {%- endif -%}
  {{ return(f) }}
{%- endmacro %}

{#- Field separator of the ratings file in each layout. -#}
{% macro ratings_field_separator() -%}
  {{ return({'csv': ',', 'dat': '::', '100k': '\t'}[movielens_format()]) }}
{%- endmacro %}

{#- on-run-start: the files the sources read, present before any model runs. Plain dbt
    on a fresh clone (before `make run` unpacked the shipped dataset), or pointed at a
    wrong folder, gets one line that says what to do instead of DuckDB's read_csv error
    from inside the first model or unit test that touches a source. MovieLens data on the DuckDB target only:
    Spark reads its sources through macros/spark. -#}
{% macro require_source_files() %}
  {%- if execute and target.type == 'duckdb' and not own_data() and flags.WHICH in ('build', 'run', 'test', 'seed', 'snapshot') -%}
    {%- set d = var('data_dir', env_var('CINEMART_DATA_DIR', 'data/ml-latest-small')) | string -%}
    {%- set f = movielens_format() -%}
    {%- set files = {'csv': ['ratings.csv', 'movies.csv'], 'dat': ['ratings.dat', 'movies.dat'],
                     '100k': ['u.data', 'u.item']}[f] -%}
    {%- if var('has_tags') and f in ('csv', 'dat') -%}{%- do files.append('tags.' ~ f) -%}{%- endif -%}
    {%- if var('has_links') and f == 'csv' -%}{%- do files.append('links.csv') -%}{%- endif -%}
    {%- set probes = [] -%}
    {%- for name in files -%}
      {%- do probes.append("select '" ~ name ~ "' as name, count(*) as n from glob('"
                           ~ (d ~ '/' ~ name) | replace("'", "''") ~ "')") -%}
    {%- endfor -%}
    {%- set missing = run_query(probes | join(' union all ') ~ ' order by name').rows
                      | selectattr('n', 'equalto', 0) | map(attribute='name') | list -%}
    {%- if missing -%}
      {%- set where = 'the default data folder ' ~ d if d == 'data/ml-latest-small' else d -%}
      {{ exceptions.raise_compiler_error("no MovieLens " ~ f ~ " files in " ~ where ~ " (missing " ~ missing | join(', ')
         ~ "): run `make run` first, which unpacks the shipped data/ml-latest-small.zip and builds the warehouse, "
         ~ "or point CINEMART_DATA_DIR (or --vars '{data_dir: ...}') at a MovieLens folder") }}
    {%- endif -%}
  {%- endif -%}
{% endmacro %}
