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
  {#- DuckDB-engine settings MLlib has no counterpart for: another value than the default (what
      MLlib ALS does: Cholesky of the normal equations, float32 factors) fails on other targets.
      Mirrors ENGINE_ONLY_VALUES in models_py/cinemart/warehouse/dbt.py. -#}
  {%- set duckdb_only_values = {'als_solver': ['auto', 'cholesky'], 'als_dtype': ['float32']} -%}
  {%- for name, accepted in duckdb_only_values.items() -%}
    {%- if target.type != 'duckdb' and (var(name, accepted[0]) | string) not in accepted -%}
      {{ exceptions.raise_compiler_error("var " ~ name ~ " " ~ (var(name) | tojson) ~ " applies to --target duckdb only (MLlib ALS solves by Cholesky with float32 factors); target '" ~ target.name ~ "' is " ~ target.type) }}
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}


{#- A --vars key no model reads fails with one line naming the closest known
    var, instead of leaving the default in place for a whole build (dbt itself
    accepts any key). The list mirrors KNOWN_VARS in
    models_py/cinemart/settings.py, which `cinemart build` checks before any
    work; tests/python/test_settings.py keeps the two in step. Run by on-run-start. -#}
{% macro validate_var_names() %}
  {%- set known = [
      'als_grid', 'als_biased', 'als_solver', 'als_dtype', 'als_selection_rule', 'als_seed', 'implicit_grid', 'implicit_seed',
      'ease_grid', 'ease_max_memory', 'similar_movies_min_ratings', 'tuning_strategy', 'tuning_max_ratings', 'ranking_eval_max_users',
      'data_dir', 'movielens_format', 'movies_encoding', 'has_tags', 'has_links',
      'ratings_file', 'movies_file', 'own_columns',
      'split_seed', 'test_percent', 'cv_folds', 'temporal_test_percent', 'popularity_prior_weight',
      'spark_serving_schema', 'popular_prior_ratings', 'popular_min_ratings'] -%}
  {%- set given = invocation_args_dict.get('vars') or {} -%}
  {%- if given is string -%}{%- set given = fromyaml(given) or {} -%}{%- endif -%}
  {%- for name in given if name not in known -%}
    {%- set best = namespace(name=none, distance=999) -%}
    {%- for candidate in known -%}
      {%- set distance = edit_distance(name | string, candidate) | int -%}
      {%- if distance < best.distance -%}{%- set best.name = candidate -%}{%- set best.distance = distance -%}{%- endif -%}
    {%- endfor -%}
    {%- set guess = (" (did you mean " ~ best.name ~ "?)") if best.distance <= [2, (name | string | length) // 3] | max else "" -%}
    {{ exceptions.raise_compiler_error("unknown var '" ~ name ~ "'" ~ guess ~ "; known vars: " ~ known | join(', ')) }}
  {%- endfor -%}
{% endmacro %}


{#- Levenshtein distance (insertions, deletions, substitutions), one row at a time. -#}
{% macro edit_distance(a, b) %}
  {%- set row = namespace(previous=range(b | length + 1) | list) -%}
  {%- for i in range(1, a | length + 1) -%}
    {%- set current = namespace(cells=[i]) -%}
    {%- for j in range(1, b | length + 1) -%}
      {%- set substitution = row.previous[j - 1] + (0 if a[i - 1] == b[j - 1] else 1) -%}
      {%- set current.cells = current.cells + [[row.previous[j] + 1, current.cells[j - 1] + 1, substitution] | min] -%}
    {%- endfor -%}
    {%- set row.previous = current.cells -%}
  {%- endfor -%}
  {{ return(row.previous[-1]) }}
{% endmacro %}
