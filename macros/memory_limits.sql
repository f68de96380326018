{#- DuckDB's memory_limit while the ratings load.

    `cinemart build` plans DuckDB's share of the memory budget for the whole
    build (models_py/cinemart/memory.py): what is left beside the model
    plugin's arrays, so at 100M ratings only 2.1 GiB, with which
    base_movielens__ratings took 249 s (223 s with the loading share). The
    models that load the ratings (base_movielens__ratings,
    stg_movielens__ratings, int_ratings_split) run before any of those arrays
    exist, since every fit reads
    int_ratings_split, so `cinemart build` also gives the larger loading share
    (CINEMART_DUCKDB_LOAD_MEMORY_LIMIT): each of those models takes it in a
    pre-hook and puts the planned share back in a post-hook. Without that
    variable (plain dbt) the hooks do nothing and the profile's limit holds. -#}
{% macro duckdb_memory_limit_hook(phase) %}
  {%- set loading = env_var('CINEMART_DUCKDB_LOAD_MEMORY_LIMIT', '') -%}
  {%- if target.type == 'duckdb' and loading -%}
    {%- if phase == 'loading' -%}
      set memory_limit = '{{ loading }}'
    {%- else -%}
      set memory_limit = '{{ env_var("CINEMART_DUCKDB_MEMORY_LIMIT", "6GB") }}'
    {%- endif -%}
  {%- endif -%}
{% endmacro %}
