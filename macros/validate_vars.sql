{#- A var that must be an integer in [min_value, max_value], returned as an int.
    `var(...) | int` alone reads 'abc' or 20.5 as a number without a word, and
    a split protocol built on that looks valid and is wrong. -#}
{% macro integer_var(name, min_value, max_value=none) -%}
  {%- set value = var(name) -%}
  {%- set text = value | string | trim -%}
  {%- set allowed = ('from ' ~ min_value ~ ' to ' ~ max_value) if max_value is not none else ('>= ' ~ min_value) -%}
  {%- set is_integer = value is not boolean and modules.re.fullmatch('[+-]?[0-9]+', text) -%}
  {%- if not is_integer or (text | int) < min_value or (max_value is not none and (text | int) > max_value) -%}
    {{ exceptions.raise_compiler_error("var " ~ name ~ " must be an integer " ~ allowed ~ ", got " ~ (value | tojson)) }}
  {%- endif -%}
  {{ return(text | int) }}
{%- endmacro %}


{#- Vars that only mean something on one engine fail on the other with one
    line, instead of being ignored (a user who sets spark_serving_schema on a
    DuckDB build thinks they published somewhere). Run by on-run-start. -#}
{% macro validate_target_vars() %}
  {%- set engine_vars = {'spark_serving_schema': 'spark'} -%}
  {%- for name, engine in engine_vars.items() -%}
    {%- if var(name, none) is not none and target.type != engine -%}
      {{ exceptions.raise_compiler_error("var " ~ name ~ " applies to --target " ~ engine ~ " only; target '" ~ target.name ~ "' is " ~ target.type) }}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}
