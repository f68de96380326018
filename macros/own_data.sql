{#- Own data (docs/use-your-own-data.md): with var ratings_file set, the
    `movielens` sources read the analyst's ratings file (CSV, TSV, Parquet, or
    a table of a DuckDB database given as PATH.duckdb:TABLE) and optional
    catalogue file instead of a MovieLens release, through the column names in
    var own_columns. The sources then have the same raw shape as MovieLens's
    (every field text), so the staging base models apply the same checks and
    the same quarantine; only the ratings file's line split differs.

    Ids may be any text (UUIDs, 'tt0111161'). Each id column (users; movies
    across both files) is mapped to BIGINT ids by one rule that depends only on
    the set of ids: when every id is an integer it is kept as it is (so a
    MovieLens export builds exactly the MovieLens tables and split), otherwise
    the ids are numbered 1..n in text order (dense_rank). The original text is
    kept in movies.source_movie_id and users.source_user_id. -#}

{% macro own_data() -%}
  {{ return((var('ratings_file', none) or '') | string | trim | length > 0) }}
{%- endmacro %}


{#- Whether the model being rendered reads own data: a dbt unit test gives
    the sources as MovieLens-shaped fixture rows whatever the vars say. -#}
{% macro reads_own_data() -%}
  {{ return(own_data() and model.resource_type != 'unit_test') }}
{%- endmacro %}


{#- The file's column for each role. Roles left out take the MovieLens CSV
    names, and the catalogue's movie column (catalogue_movie) the ratings
    file's; the catalogue's title, genres, imdb and tmdb are optional (null
    when the file has no such column, which own_file_columns reports). -#}
{% macro own_column_names() -%}
  {%- set names = {'user': 'userId', 'movie': 'movieId', 'rating': 'rating', 'timestamp': 'timestamp',
                   'plays': 'plays', 'title': 'title', 'genres': 'genres', 'imdb': 'imdbId', 'tmdb': 'tmdbId',
                   'catalogue_movie': none} -%}
  {%- set given = var('own_columns', {}) or {} -%}
  {#- a misspelt role would leave its column unread (a misspelt rating: the data read as interactions) -#}
  {%- for role in given if role not in names -%}
    {{ exceptions.raise_compiler_error("own_columns: unknown role '" ~ role ~ "'; roles: " ~ names.keys() | join(', ')) }}
  {%- endfor -%}
  {%- do names.update(given) -%}
  {%- if not names['catalogue_movie'] -%}{%- do names.update({'catalogue_movie': names['movie']}) -%}{%- endif -%}
  {{ return(names) }}
{%- endmacro %}


{#- The relation a path names: a DuckDB table (attached by attach_own_data) or
    a file read in place, every CSV/TSV field as text. On Spark a CSV/TSV file
    is a temporary view attach_own_data creates (Spark SQL's csv.`path` reads
    no header), a Parquet file parquet.`path`; a DuckDB table is DuckDB's
    alone (the CLI refuses it on Spark first, in one line). -#}
{% macro own_file_reader(path) -%}
  {{ return(adapter.dispatch('own_file_reader', 'cinemart')(path | string | trim)) }}
{%- endmacro %}

{% macro default__own_file_reader(p) -%}
  {%- set table = own_duckdb_table(p) -%}
  {%- set quoted = p | replace("'", "''") -%}
  {%- if table -%}
    {{ own_database_alias(table.group(1)) }}.{{ table.group(2) }}
  {%- elif p.lower().endswith('.parquet') -%}
    read_parquet('{{ quoted }}')
  {%- elif own_is_tsv(p) -%}
    read_csv('{{ quoted }}', header=true, delim='\t', all_varchar=true)
  {%- else -%}
    read_csv('{{ quoted }}', header=true, all_varchar=true)
  {%- endif -%}
{%- endmacro %}

{% macro spark__own_file_reader(p) -%}
  {%- if own_duckdb_table(p) -%}
    {{ exceptions.raise_compiler_error("own data: " ~ p ~ " is a table of a DuckDB database, which --target spark "
       ~ "cannot read: export it to Parquet or CSV") }}
  {%- elif p.lower().endswith('.parquet') -%}
    parquet.`{{ p | replace('`', '``') }}`
  {%- else -%}
    {{ own_database_alias(p) }}
  {%- endif -%}
{%- endmacro %}


{% macro own_duckdb_table(path) -%}
  {{ return(modules.re.fullmatch('(.+\\.(?:duckdb|db)):([A-Za-z_][A-Za-z0-9_.]*)', path | string | trim)) }}
{%- endmacro %}


{% macro own_is_tsv(path) -%}
  {{ return(path.lower().endswith('.tsv') or path.lower().endswith('.tab')) }}
{%- endmacro %}


{% macro own_database_alias(path) -%}
  cinemart_own_{{ local_md5(path | string) [:8] }}
{%- endmacro %}


{#- on-run-start: on DuckDB, attach the databases whose tables are the
    own-data sources, read-only; on Spark, a temporary view over each CSV/TSV
    file, header read, every field text (the session's views live as long as
    the dbt command, which runs every model in that one session). -#}
{% macro attach_own_data() %}
  {%- if execute and own_data() -%}
    {%- for path in [var('ratings_file'), var('movies_file', none)] if path -%}
      {%- set p = path | string | trim -%}
      {%- set table = own_duckdb_table(p) -%}
      {%- if target.type == 'duckdb' and table -%}
        {%- do run_query("attach if not exists '" ~ table.group(1) | replace("'", "''") ~ "' as "
                         ~ own_database_alias(table.group(1)) ~ " (read_only)") -%}
      {%- elif target.type == 'spark' and not table and not p.lower().endswith('.parquet') -%}
        {%- do run_query("create or replace temporary view " ~ own_database_alias(p) ~ " using csv options ("
                         ~ "path '" ~ p | replace("\\", "\\\\") | replace("'", "\\'") ~ "', header 'true', "
                         ~ "sep '" ~ ("\\t" if own_is_tsv(p) else ",") ~ "', inferSchema 'false')") -%}
      {%- endif -%}
    {%- endfor -%}
  {%- endif -%}
{% endmacro %}


{#- The columns a source file has (lower-cased name -> name as spelled). -#}
{% macro own_file_columns(path) -%}
  {%- if not execute -%}{{ return({}) }}{%- endif -%}
  {%- set describe = 'describe query select * from ' if target.type == 'spark' else 'describe select * from ' -%}
  {%- set rows = run_query(describe ~ own_file_reader(path)).rows -%}
  {%- set found = {} -%}
  {%- for row in rows -%}{%- do found.update({row[0] | lower: row[0]}) -%}{%- endfor -%}
  {{ return(found) }}
{%- endmacro %}


{#- `role`'s column of a file as trimmed text (NULL for ''), or NULL when the
    role is optional and the file lacks it. A required role the file lacks is
    one compiler error naming the file, the role and the columns it has. -#}
{% macro own_field(path, columns, role, required) -%}
  {%- set name = own_column_names()[role] -%}
  {%- if not execute -%}
    null
  {%- elif name and (name | lower) in columns -%}
    nullif(trim(cast({{ adapter.quote(columns[name | lower]) }} as string)), '')
  {%- elif required or role in (var('own_columns', {}) or {}) -%}
    {{ exceptions.raise_compiler_error("own data: " ~ path ~ " has no column '" ~ name ~ "' for " ~ role
       ~ " (own_columns " ~ role ~ "=...); its columns: " ~ columns.values() | join(', ')) }}
  {%- else -%}
    cast(null as string)
  {%- endif -%}
{%- endmacro %}


{#- A timestamp as Unix seconds in text: integers as they are, date/time
    values (Parquet TIMESTAMP, ISO text) converted; anything else is kept as
    it was so that the base model quarantines it as unparseable_timestamp. -#}
{% macro own_epoch_text(field) -%}
  {{ return(adapter.dispatch('own_epoch_text', 'cinemart')(field)) }}
{%- endmacro %}

{% macro default__own_epoch_text(field) -%}
  coalesce(
    case when {{ is_integer_text(field) }} then {{ field }} end,
    cast(cast(floor(epoch(coalesce(try_cast({{ field }} as timestamp), try_cast({{ field }} as timestamptz)))) as bigint) as varchar),
    {{ field }})
{%- endmacro %}

{#- The session's time zone is UTC (profiles.yml), as DuckDB's naive timestamps are. -#}
{% macro spark__own_epoch_text(field) -%}
  coalesce(
    case when {{ is_integer_text(field) }} then {{ field }} end,
    cast(cast(floor(unix_micros(to_timestamp({{ field }})) / 1000000) as bigint) as string),
    {{ field }})
{%- endmacro %}


{#- Implicit feedback: own data whose ratings file has no rating column (and
    own_columns names none), such as plays, purchases or watch-list adds.
    Each row is then an interaction, weighted by its play count when the file
    has one (role plays) and counted once otherwise. -#}
{% macro implicit_feedback() -%}
  {%- if not (execute and reads_own_data()) or 'rating' in (var('own_columns', {}) or {}) -%}
    {{ return(false) }}
  {%- endif -%}
  {{ return((own_column_names()['rating'] | lower) not in own_file_columns(var('ratings_file') | string | trim)) }}
{%- endmacro %}


{#- The ratings source: one row per source row, with the raw fields the base
    model checks (raw_plays only on implicit feedback). -#}
{% macro own_ratings_reader() -%}
  {%- set path = var('ratings_file') | string | trim -%}
  {%- set columns = own_file_columns(path) -%}
  {%- set implicit = implicit_feedback() -%}
  {%- if execute and reads_own_data() and not implicit and 'plays' in (var('own_columns', {}) or {}) -%}
    {{ exceptions.raise_compiler_error("own data: own_columns plays=... weighs interactions without ratings, and "
       ~ path ~ " has ratings; leave plays out") }}
  {%- endif -%}
  select
      {{ own_field(path, columns, 'user', true) }} as raw_user_id,
      {{ own_field(path, columns, 'movie', true) }} as raw_movie_id,
      {{ own_field(path, columns, 'rating', not implicit) }} as raw_rating,
      {{ own_epoch_text(own_field(path, columns, 'timestamp', true)) }} as raw_timestamp,
      {{ own_field(path, columns, 'plays', false) if implicit else 'cast(null as string)' }} as raw_plays
  from {{ own_file_reader(path) }}
{%- endmacro %}


{#- The movies source in MovieLens's raw shape. Without a catalogue file, one
    row per movie the ratings name, titled by its id and with no genres. -#}
{% macro own_movies_reader() -%}
  {%- set path = var('movies_file', none) -%}
  {%- if path -%}
    {%- set columns = own_file_columns(path) -%}
    {%- set movie = own_field(path, columns, 'catalogue_movie', true) -%}
    select
        {{ movie }} as movieId,
        coalesce({{ own_field(path, columns, 'title', false) }}, {{ movie }}) as title,
        coalesce({{ own_field(path, columns, 'genres', false) }}, '(no genres listed)') as genres,
        cast(null as string) as surplus
    from {{ own_file_reader(path) }}
  {%- else -%}
    select distinct
        raw_movie_id as movieId,
        raw_movie_id as title,
        '(no genres listed)' as genres,
        cast(null as string) as surplus
    from ({{ own_ratings_reader() }}) as ratings
    where raw_movie_id is not null
  {%- endif -%}
{%- endmacro %}


{#- The links source: the catalogue's IMDb ('tt0114709' or its digits) and
    TMDb ids, when it has either column; otherwise no rows. -#}
{% macro own_links_reader() -%}
  {%- set path = var('movies_file', none) -%}
  {%- set columns = own_file_columns(path) if path else {} -%}
  {%- set names = own_column_names() -%}
  {%- if path and ((names['imdb'] | lower) in columns or (names['tmdb'] | lower) in columns) -%}
    select
        {{ own_field(path, columns, 'catalogue_movie', true) }} as movieId,
        coalesce(regexp_replace({{ own_field(path, columns, 'imdb', false) }}, '^tt', ''), '') as imdbId,
        coalesce({{ own_field(path, columns, 'tmdb', false) }}, '') as tmdbId,
        cast(null as string) as surplus
    from {{ own_file_reader(path) }}
  {%- else -%}
    {{ own_empty_reader('links') }}
  {%- endif -%}
{%- endmacro %}


{#- A source the own data does not have (tags; links without ids), with no rows. -#}
{% macro own_empty_reader(table_name) -%}
  {%- set columns = {'tags': ['userId', 'movieId', 'tag', 'timestamp', 'surplus'],
                     'links': ['movieId', 'imdbId', 'tmdbId', 'surplus']}[table_name] -%}
  select {% for c in columns %}cast(null as string) as {{ c }}{{ ', ' if not loop.last }}{% endfor %} where false
{%- endmacro %}


{#- Source id text -> warehouse id, for 'user' or 'movie' (see the top of this file). -#}
{% macro own_ids(kind) -%}
  {%- if kind == 'user' -%}
    {%- set ids = 'select raw_user_id as source_id from (' ~ own_ratings_reader() ~ ') as r' -%}
  {%- else -%}
    {%- set ids = 'select raw_movie_id as source_id from (' ~ own_ratings_reader() ~ ') as r union all '
                  ~ 'select movieId as source_id from (' ~ own_movies_reader() ~ ') as m' -%}
  {%- endif -%}
  (select
       source_id,
       case when bool_and(is_integer) over () then try_cast(source_id as bigint)
            else dense_rank() over (order by source_id) end as id
   from (
       select distinct source_id, {{ is_integer_text('source_id') }} as is_integer
       from ({{ ids }}) as all_ids
       where source_id is not null
   ) as distinct_ids)
{%- endmacro %}


{#- The warehouse id of a raw id field: the MovieLens rule (a plain integer)
    or, on own data, the mapping above. -#}
{% macro warehouse_id(kind, raw) -%}
  {%- if reads_own_data() -%}
    (select max(own_ids.id) from {{ own_ids(kind) }} as own_ids where own_ids.source_id = {{ raw }})
  {%- else -%}
    {{ integer_field(raw) }}
  {%- endif -%}
{%- endmacro %}
