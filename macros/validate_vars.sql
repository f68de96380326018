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
