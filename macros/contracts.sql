{#- Model contracts and the factor columns. A factor column is FLOAT[k] on
    DuckDB, with k the rank the grid search chose in this very build, so no
    YAML can spell its type ahead of the build. Its contract type is float[]
    (array<float> on Spark, whose arrays have no length): DuckDB's contract
    check compares a fixed-size array as the list of its element type, and the
    contracted CREATE TABLE keeps the query's FLOAT[k] where the YAML says the
    same element type with no length. The element type and the column's name
    and position are still enforced; only the length is the build's. -#}

{#- dbt's default__format_column with one change: TYPE[k] reads as TYPE[]. -#}
{% macro duckdb__format_column(column) -%}
  {%- set data_type = list_of_element_type(column.dtype) -%}
  {{ return({'name': column.name, 'data_type': data_type, 'formatted': column.column.lower() ~ ' ' ~ data_type}) }}
{%- endmacro %}


{#- dbt's table_columns_and_constraints (the DDL of a contracted table) with
    the declared TYPE[] replaced by the query's TYPE[k] when the element types
    agree, so factor columns stay fixed-size arrays, which the serving macros'
    array functions need. -#}
{% macro duckdb__get_table_columns_and_constraints() -%}
  {%- set built = {} -%}
  {%- for column in adapter.get_column_schema_from_query(get_empty_subquery_sql(model['compiled_code'])) -%}
    {%- do built.update({column.name | lower: column.dtype}) -%}
  {%- endfor -%}
  {%- set columns = {} -%}
  {%- for name, column in model['columns'].items() -%}
    {%- set declared = (column['data_type'] or '') | upper -%}
    {%- set actual = built.get(name | lower, '') | upper -%}
    {%- set column = column.copy() -%}
    {%- if declared.endswith('[]') and list_of_element_type(actual) == duckdb_list_type(declared) -%}
      {%- do column.update({'data_type': actual}) -%}
    {%- endif -%}
    {%- do columns.update({name: column}) -%}
  {%- endfor -%}
  {%- set raw_column_constraints = adapter.render_raw_columns_constraints(raw_columns=columns) -%}
  {%- set raw_model_constraints = adapter.render_raw_model_constraints(raw_constraints=model['constraints']) -%}
    (
    {% for c in raw_column_constraints -%}
      {{ c }}{{ "," if not loop.last or raw_model_constraints }}
    {% endfor %}
    {% for c in raw_model_constraints -%}
        {{ c }}{{ "," if not loop.last }}
    {% endfor -%}
    )
{%- endmacro %}


{#- DuckDB's own spelling of a declared list type (string[] -> VARCHAR[]). -#}
{% macro duckdb_list_type(declared) -%}
  {%- set described = adapter.get_column_schema_from_query('select cast(null as ' ~ declared ~ ') as x') -%}
  {{ return(described[0].dtype | upper) }}
{%- endmacro %}


{#- TYPE[k] -> TYPE[]; any other type unchanged. -#}
{% macro list_of_element_type(data_type) -%}
  {%- set parts = data_type.rsplit('[', 1) -%}
  {%- if parts | length == 2 and parts[1].endswith(']') and parts[1][:-1].isdigit() -%}
    {{ return(parts[0] ~ '[]') }}
  {%- endif -%}
  {{ return(data_type) }}
{%- endmacro %}
