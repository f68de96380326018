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
