{#- `source()` with one engine-specific twist: on Spark, a MovieLens source is
    not a table but a subquery that reads the release file in place. With own
    data (var ratings_file, macros/own_data.sql) a MovieLens source is a
    subquery over the analyst's files in the same raw shape.

    On DuckDB the source table's `external_location` (read_csv with
    null_padding, nullstr and struct_pack, models/staging/_movielens__sources.yml)
    is the reader, and builtins.source already returns it. Spark has no such
    reader options, so here every file is read as text and split in SQL into
    the same raw shape: the same columns, every field as text, an empty field
    '' and a missing one NULL, and `surplus` = the first field past the
    expected ones. The base models' checks then give identical reasons.
    The dependency is still recorded by builtins.source (lineage, freshness). -#}
{% macro source(source_name, table_name) -%}
  {%- set relation = builtins.source(source_name, table_name) -%}
  {{ return(adapter.dispatch('source_reader', 'cinemart')(relation, source_name, table_name)) }}
{%- endmacro %}

{% macro default__source_reader(relation, source_name, table_name) -%}
  {%- if source_name != 'movielens' or not reads_own_data() -%}
    {{ return(relation) }}
  {%- endif -%}
  {%- set reader = {'ratings': own_ratings_reader, 'movies': own_movies_reader, 'links': own_links_reader}.get(table_name) -%}
  {%- set query = reader() if reader else own_empty_reader(table_name) -%}
  {{ return('(' ~ query ~ ') as own_' ~ table_name) }}
{%- endmacro %}

{% macro spark__source_reader(relation, source_name, table_name) -%}
  {#- a dbt unit test gives the source as fixture rows: builtins.source
      already names them, and the files must not be read -#}
  {%- if source_name != 'movielens' or model.resource_type == 'unit_test' -%}
    {{ return(relation) }}
  {%- endif -%}
  {%- if own_data() -%}
    {{ return(default__source_reader(relation, source_name, table_name)) }}
  {%- endif -%}
  {%- set reader = {
        'ratings': spark_movielens_ratings,
        'movies': spark_movielens_movies,
        'tags': spark_movielens_tags,
        'links': spark_movielens_links,
      }[table_name] -%}
  {{ return('(' ~ reader() ~ ') as movielens_' ~ table_name) }}
{%- endmacro %}


{#- The folder the sources read, as a backtick-quoted Spark path prefix. -#}
{% macro spark_movielens_path(filename) -%}
  {%- set d = var('data_dir', env_var('CINEMART_DATA_DIR', 'data/ml-latest-small')) | string -%}
  `{{ (d ~ '/' ~ filename) | replace('`', '``') }}`
{%- endmacro %}


{#- ratings: one row per line, like DuckDB's NUL-delimited read_csv. Spark's
    line reader is distributed, which matters for the 25M-line releases. The
    CSV header is the first line of the file: the row whose
    monotonically_increasing_id() is 0, i.e. the first row of partition 0.
    Partition 0 is the file's split at byte 0: a file is cut into equal
    splits in order, Spark sorts splits by size with a stable sort, and only
    the last (shorter) split moves. An empty line is NULL, as on DuckDB. -#}
{% macro spark_movielens_ratings() -%}
  {%- set f = movielens_format() -%}
  {%- set file = {'csv': 'ratings.csv', 'dat': 'ratings.dat', '100k': 'u.data'}[f] -%}
  select nullif(value, '') as line
  from (
      select value, monotonically_increasing_id() as line_id
      from text.{{ spark_movielens_path(file) }}
  ) as lines
  {%- if f == 'csv' %}
  where line_id > 0
  {%- endif %}
{%- endmacro %}


{#- The small files (movies, tags, links), one row per record with its fields
    as an array. The whole file is read as bytes (binaryFile) so that the
    encoding can be chosen (latin-1 movies.dat, u.item) and a quoted CSV field
    may span lines. A record ends at \r\n, \n or \r outside quotes; the match
    list always ends with one empty match at the end of input, which is
    dropped, and empty records are skipped as DuckDB's reader skips blank
    lines. In CSV, a field is "quoted" ("" is a quote inside) or runs to the
    next comma; each field is matched with the comma before it (one is put in
    front of the record), so no match is empty and an empty first field is not
    skipped by the regex engine's empty-match rule. Possessive quantifiers
    keep Java's regex engine from recursing once per character on long fields. -#}
{% macro spark_movielens_records(filename, separator, encoding='utf-8', has_header=false) -%}
  {#- Written as template text, not Jinja strings, so that the SQL gets the
      doubled backslashes Spark's string literals unescape to one. -#}
  {%- if separator == ',' -%}
    {%- set record_pattern %}((?:[^"\\r\\n]++|"(?:[^"]++|"")*+")*+)(?:\\r\\n|\\n|\\r|\\z){% endset -%}
  {%- else -%}
    {%- set record_pattern %}([^\\r\\n]*+)(?:\\r\\n|\\n|\\r|\\z){% endset -%}
  {%- endif -%}
  select
      {%- if separator == ',' %}
      transform(
          regexp_extract_all(concat(',', record), ',("(?:[^"]++|"")*+"|[^,]*+)', 1),
          field -> case
              when length(field) >= 2 and field like '"%"' then replace(substr(field, 2, length(field) - 2), '""', '"')
              else field
          end
      ) as fields
      {%- else %}
      split(record, concat('\\Q', '{{ separator }}', '\\E'), -1) as fields
      {%- endif %}
  from (
      select posexplode(slice(matches, 1, size(matches) - 1)) as (record_no, record)
      from (
          select regexp_extract_all(decode(content, '{{ spark_charset(encoding) }}'), '{{ record_pattern }}', 1) as matches
          from binaryFile.{{ spark_movielens_path(filename) }}
      ) as file
  ) as records
  where record <> ''
  {%- if has_header %}
    and record_no > 0
  {%- endif %}
{%- endmacro %}


{#- Named text columns from a `fields` array (1-based), plus `surplus`. -#}
{% macro spark_named_fields(names) -%}
  {%- for name in names %}
      try_element_at(fields, {{ loop.index }}) as {{ adapter.quote(name) }},
  {%- endfor %}
      try_element_at(fields, {{ names | length + 1 }}) as surplus
{%- endmacro %}


{#- An empty relation with the given text columns, for files a release lacks. -#}
{% macro spark_no_rows(names) -%}
  select {% for name in names + ['surplus'] %}cast(null as string) as {{ adapter.quote(name) }}{{ ', ' if not loop.last }}{% endfor %}
  where false
{%- endmacro %}


{% macro spark_movielens_movies() -%}
  {%- set f = movielens_format() -%}
  {%- set enc = var('movies_encoding', env_var('CINEMART_MOVIES_ENCODING', 'utf-8')) | string -%}
  {%- set columns = ['movieId', 'title', 'genres'] -%}
  {%- if f == 'csv' -%}
  select {{ spark_named_fields(columns) }}
  from ({{ spark_movielens_records('movies.csv', ',', enc, has_header=true) }}) as rows
  {%- elif f == 'dat' -%}
  select {{ spark_named_fields(columns) }}
  from ({{ spark_movielens_records('movies.dat', '::', enc) }}) as rows
  {%- else -%}
  {#- u.item: movieId|title|release date|video release date|IMDb URL|19 genre
      flags; the flags fold into a '|' list as on DuckDB, and genres is NULL
      (wrong_field_count) unless all 19 are there. -#}
  {%- set flags = ['unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy', 'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western'] -%}
  select
      try_element_at(fields, 1) as movieId,
      try_element_at(fields, 2) as title,
      case when try_element_at(fields, 24) is not null then coalesce(nullif(concat_ws('|'
      {%- for g in flags[1:] %}, case when try_element_at(fields, {{ loop.index + 6 }}) = '1' then '{{ g | replace("'", "\\'") }}' end{% endfor -%}
      ), ''), '(no genres listed)') end as genres,
      try_element_at(fields, 25) as surplus
  from ({{ spark_movielens_records('u.item', '|', enc) }}) as rows
  {%- endif -%}
{%- endmacro %}


{% macro spark_movielens_tags() -%}
  {%- set columns = ['userId', 'movieId', 'tag', 'timestamp'] -%}
  {%- if not var('has_tags') -%}
  {{ spark_no_rows(columns) }}
  {%- elif movielens_format() == 'csv' -%}
  select {{ spark_named_fields(columns) }}
  from ({{ spark_movielens_records('tags.csv', ',', has_header=true) }}) as rows
  {%- else -%}
  select {{ spark_named_fields(columns) }}
  from ({{ spark_movielens_records('tags.dat', '::') }}) as rows
  {%- endif -%}
{%- endmacro %}


{% macro spark_movielens_links() -%}
  {%- set columns = ['movieId', 'imdbId', 'tmdbId'] -%}
  {%- if not var('has_links') -%}
  {{ spark_no_rows(columns) }}
  {%- else -%}
  select {{ spark_named_fields(columns) }}
  from ({{ spark_movielens_records('links.csv', ',', has_header=true) }}) as rows
  {%- endif -%}
{%- endmacro %}


{#- Spark's decode() takes Java charset names; the layout detector says
    utf-8 or latin-1 (models_py/cinemart/data/layout.py). -#}
{% macro spark_charset(encoding) -%}
  {%- set charsets = {'utf-8': 'UTF-8', 'utf8': 'UTF-8', 'latin-1': 'ISO-8859-1', 'latin1': 'ISO-8859-1', 'iso-8859-1': 'ISO-8859-1'} -%}
  {%- if encoding | lower not in charsets -%}
    {{ exceptions.raise_compiler_error("movies_encoding '" ~ encoding ~ "' is not supported on Spark; allowed: utf-8, latin-1") }}
  {%- endif -%}
  {{ return(charsets[encoding | lower]) }}
{%- endmacro %}
