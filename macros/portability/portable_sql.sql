{#- Engine-specific SQL lives here, behind adapter.dispatch, so the models stay
    portable: DuckDB is the default implementation, Spark SQL is provided for the
    day the project moves to a cluster. -#}

{#- Unsigned integer from the first 8 hex digits of md5(text), mod `modulus`.
    The split protocol is defined on this value, so every engine must agree. -#}
{% macro md5_bucket(text_expr, modulus) -%}
  {{ return(adapter.dispatch('md5_bucket', 'cinemart')(text_expr, modulus)) }}
{%- endmacro %}

{% macro default__md5_bucket(text_expr, modulus) -%}
  (cast(('0x' || substr(md5({{ text_expr }}), 1, 8)) as bigint) % {{ modulus }})
{%- endmacro %}

{% macro spark__md5_bucket(text_expr, modulus) -%}
  pmod(cast(conv(substr(md5({{ text_expr }}), 1, 8), 16, 10) as bigint), {{ modulus }})
{%- endmacro %}


{#- '|'-separated genres -> list of strings; '(no genres listed)' -> empty list. -#}
{% macro genre_list(genres_expr) -%}
  {{ return(adapter.dispatch('genre_list', 'cinemart')(genres_expr)) }}
{%- endmacro %}

{% macro default__genre_list(genres_expr) -%}
  case
    when {{ genres_expr }} is null or trim({{ genres_expr }}) in ('', '(no genres listed)') then cast([] as varchar[])
    else list_transform(string_split({{ genres_expr }}, '|'), lambda g: trim(g))
  end
{%- endmacro %}

{% macro spark__genre_list(genres_expr) -%}
  case
    when {{ genres_expr }} is null or trim({{ genres_expr }}) in ('', '(no genres listed)') then cast(array() as array<string>)
    else transform(split({{ genres_expr }}, '\\|'), g -> trim(g))
  end
{%- endmacro %}


{#- One row per element of a list column: `select ..., {{ explode_list('genres') }} as genre`
    is not portable, so the macro renders a FROM-clause fragment instead. -#}
{% macro explode_list_from(relation, list_column, element_alias) -%}
  {{ return(adapter.dispatch('explode_list_from', 'cinemart')(relation, list_column, element_alias)) }}
{%- endmacro %}

{% macro default__explode_list_from(relation, list_column, element_alias) -%}
  (select *, unnest({{ list_column }}) as {{ element_alias }} from {{ relation }})
{%- endmacro %}

{% macro spark__explode_list_from(relation, list_column, element_alias) -%}
  (select *, explode({{ list_column }}) as {{ element_alias }} from {{ relation }})
{%- endmacro %}


{#- Unix seconds (UTC) -> naive UTC timestamp. -#}
{% macro epoch_seconds_to_timestamp(seconds_expr) -%}
  {{ return(adapter.dispatch('epoch_seconds_to_timestamp', 'cinemart')(seconds_expr)) }}
{%- endmacro %}

{% macro default__epoch_seconds_to_timestamp(seconds_expr) -%}
  make_timestamp(cast({{ seconds_expr }} as bigint) * 1000000)
{%- endmacro %}

{% macro spark__epoch_seconds_to_timestamp(seconds_expr) -%}
  timestamp_seconds({{ seconds_expr }})
{%- endmacro %}


{#- Number of elements in a list column. -#}
{% macro list_length(list_expr) -%}
  {{ return(adapter.dispatch('list_length', 'cinemart')(list_expr)) }}
{%- endmacro %}

{% macro default__list_length(list_expr) -%}
  len({{ list_expr }})
{%- endmacro %}

{% macro spark__list_length(list_expr) -%}
  size({{ list_expr }})
{%- endmacro %}


{#- Split text on a literal separator into a list. -#}
{% macro split_text(text_expr, separator) -%}
  {{ return(adapter.dispatch('split_text', 'cinemart')(text_expr, separator)) }}
{%- endmacro %}

{% macro default__split_text(text_expr, separator) -%}
  string_split({{ text_expr }}, '{{ separator }}')
{%- endmacro %}

{% macro spark__split_text(text_expr, separator) -%}
  split({{ text_expr }}, concat('\\Q', '{{ separator }}', '\\E'))
{%- endmacro %}


{#- The i-th element (1-based) of a list, null past its end. -#}
{% macro list_item(list_expr, position) -%}
  {{ return(adapter.dispatch('list_item', 'cinemart')(list_expr, position)) }}
{%- endmacro %}

{% macro default__list_item(list_expr, position) -%}
  {{ list_expr }}[{{ position }}]
{%- endmacro %}

{% macro spark__list_item(list_expr, position) -%}
  try_element_at({{ list_expr }}, {{ position }})
{%- endmacro %}


{#- True when text is a plain base-10 integer (optional sign, digits only).
    Engines' casts are laxer ('1.5', '1e3', '0x10' and '1_000' all cast to
    BIGINT in DuckDB), and an id or timestamp written that way is not one. -#}
{% macro is_integer_text(text_expr) -%}
  {{ return(adapter.dispatch('is_integer_text', 'cinemart')(text_expr)) }}
{%- endmacro %}

{% macro default__is_integer_text(text_expr) -%}
  regexp_full_match({{ text_expr }}, '[+-]?[0-9]+')
{%- endmacro %}

{% macro spark__is_integer_text(text_expr) -%}
  ({{ text_expr }} rlike '^[+-]?[0-9]+$')
{%- endmacro %}


{#- A fixed-size float vector from scalar expressions (DuckDB FLOAT[n]). -#}
{% macro float_array(expressions) -%}
  {{ return(adapter.dispatch('float_array', 'cinemart')(expressions)) }}
{%- endmacro %}

{% macro default__float_array(expressions) -%}
  cast([{{ expressions | join(', ') }}] as float[{{ expressions | length }}])
{%- endmacro %}

{% macro spark__float_array(expressions) -%}
  array({% for e in expressions %}cast({{ e }} as float){{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}


{#- `text_expr` without any leading or trailing `characters` (DuckDB's
    two-argument trim). -#}
{% macro trim_characters(text_expr, characters) -%}
  {{ return(adapter.dispatch('trim_characters', 'cinemart')(text_expr, characters)) }}
{%- endmacro %}

{% macro default__trim_characters(text_expr, characters) -%}
  trim({{ text_expr }}, '{{ characters }}')
{%- endmacro %}

{% macro spark__trim_characters(text_expr, characters) -%}
  trim(both '{{ characters }}' from {{ text_expr }})
{%- endmacro %}


{#- A regular expression as a SQL string literal. Spark unescapes backslashes
    in string literals ('\d' arrives as 'd'), so they are doubled there;
    DuckDB passes the text through unchanged. -#}
{% macro regex_literal(pattern) -%}
  {{ return(adapter.dispatch('regex_literal', 'cinemart')(pattern)) }}
{%- endmacro %}

{% macro default__regex_literal(pattern) -%}
  '{{ pattern }}'
{%- endmacro %}

{% macro spark__regex_literal(pattern) -%}
  '{{ pattern | replace('\\', '\\\\') }}'
{%- endmacro %}


{#- The current time as a naive UTC timestamp (DuckDB's current_timestamp is
    zoned, Spark's is in the session time zone). -#}
{% macro utc_now() -%}
  {{ return(adapter.dispatch('utc_now', 'cinemart')()) }}
{%- endmacro %}

{% macro default__utc_now() -%}
  timezone('UTC', current_timestamp)
{%- endmacro %}

{% macro spark__utc_now() -%}
  to_utc_timestamp(current_timestamp(), current_timezone())
{%- endmacro %}


{#- Cosine similarity of two equally long FLOAT arrays, in double precision;
    NULL when either has no direction (all zeros). -#}
{#- sum(left[i] * right[i]) in DOUBLE for two equally long FLOAT lists. -#}
{% macro dot_product(left, right) -%}
  {{ return(adapter.dispatch('dot_product', 'cinemart')(left, right)) }}
{%- endmacro %}

{% macro default__dot_product(left, right) -%}
  list_inner_product(cast({{ left }} as double[]), cast({{ right }} as double[]))
{%- endmacro %}

{% macro spark__dot_product(left, right) -%}
  {{ spark_dot(left, right) }}
{%- endmacro %}


{% macro cosine_similarity(left, right) -%}
  {{ return(adapter.dispatch('cosine_similarity', 'cinemart')(left, right)) }}
{%- endmacro %}

{% macro default__cosine_similarity(left, right) -%}
  (list_inner_product({{ left }}, {{ right }})
    / nullif(sqrt(list_inner_product({{ left }}, {{ left }})) * sqrt(list_inner_product({{ right }}, {{ right }})), 0))
{%- endmacro %}

{% macro spark__cosine_similarity(left, right) -%}
  ({{ spark_dot(left, right) }}
    / nullif(sqrt({{ spark_dot(left, left) }}) * sqrt({{ spark_dot(right, right) }}), 0))
{%- endmacro %}


{#- True when the served model can personalise the user of this factor row: a
    non-zero factor or bias. The rule is cinemart.models.base.Factors.personalised;
    a user it fails is served the popular_movies fallback on every engine. -#}
{% macro personalised_user(factors, bias) -%}
  {{ return(adapter.dispatch('personalised_user', 'cinemart')(factors, bias)) }}
{%- endmacro %}

{% macro default__personalised_user(factors, bias) -%}
  ({{ bias }} <> 0 or len(list_filter({{ factors }}, lambda x: x <> 0)) > 0)
{%- endmacro %}

{% macro spark__personalised_user(factors, bias) -%}
  ({{ bias }} <> 0 or exists({{ factors }}, x -> x <> 0))
{%- endmacro %}
