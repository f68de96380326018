{#- Row checks shared by the staging base models (models/staging/base). A base
    model types every source field and names its first failed check in
    `rejection_reason`; the clean model and the quarantine model are both cut
    from it, so rows in = rows kept + rows quarantined by construction. The
    *_check(s) macros render CASE branches, so a base model lists its checks
    field by field and the first failure wins. -#}

{#- A field as read minus surrounding blanks; '' becomes NULL, i.e. missing. -#}
{% macro raw_field(text_expr) -%}
  nullif(trim({{ text_expr }}), '')
{%- endmacro %}


{#- BIGINT from text, or NULL. Strict: a cast alone would turn the id '1.5'
    into 2 and '1e3' into 1000. -#}
{% macro integer_field(text_expr) -%}
  case when {{ is_integer_text(text_expr) }} then try_cast({{ text_expr }} as bigint) end
{%- endmacro %}


{#- A positive integer id. One too large for BIGINT is id_out_of_range rather
    than unparseable: the value is an id, just one the warehouse cannot hold. -#}
{% macro id_checks(name, raw, parsed, required=true) %}
  {%- if required %}
            when {{ raw }} is null then 'missing_field'
  {%- endif %}
            when {{ raw }} is not null and {{ parsed }} is null and {{ is_integer_text(raw) }} then 'id_out_of_range'
            when {{ raw }} is not null and {{ parsed }} is null then 'unparseable_{{ name }}'
            when {{ parsed }} <= 0 then '{{ name }}_not_positive'
{%- endmacro %}


{#- Unix seconds. "Future" is judged against the start of the build
    (run_started_at, rendered as a literal so every model of one build agrees),
    with a day of slack for clock skew. -#}
{% macro epoch_checks(raw, parsed) %}
            when {{ raw }} is null then 'missing_field'
            when {{ parsed }} is null and {{ is_integer_text(raw) }} then 'timestamp_out_of_range'
            when {{ parsed }} is null then 'unparseable_timestamp'
            when {{ parsed }} < 0 then 'timestamp_negative'
            -- past 9999-12-31: no timestamp type can hold it
            when {{ parsed }} > 253402300799 then 'timestamp_out_of_range'
            when {{ parsed }} > {{ (run_started_at.timestamp() | int) + 86400 }} then 'timestamp_in_future'
{%- endmacro %}


{#- Sources read with null_padding and one `surplus` column past the real ones
    (models/staging/_movielens__sources.yml): a NULL last field means the line
    was short, a non-NULL surplus that it was long. -#}
{% macro field_count_check(last_field) %}
            when {{ last_field }} is null or surplus is not null then 'wrong_field_count'
{%- endmacro %}


{#- Rows about a movie must point at a clean movie. The catalogue's column is
    renamed so that an unqualified `movie_id` still means the outer row's. -#}
{% macro known_movie_check(movie_id) %}
            when not exists (
                select 1 from (select movie_id as known_movie_id from {{ ref('stg_movielens__movies') }}) as known
                where known.known_movie_id = {{ movie_id }}
            ) then 'movie_not_in_movies'
{%- endmacro %}


{#- Two CTEs ending in `with_rejections`: every row of `relation` plus
    `rejection_reason`, which is `row_reason`, else `reason` for every clean row
    but the first of its key in `order_by`. Only clean rows compete, so a bad
    duplicate never displaces a good row.
    Only keys that repeat among clean rows are ranked: a window over every row
    sorted all 25M ratings of ml-25m by key and raw line, half of the
    ratings' staging time, to find the few keys that occur twice. (EXISTS,
    not a join flag: a left join carried every raw line through a hash join
    twice and saved nothing.) -#}
{% macro with_duplicate_rejections(relation, keys, order_by, reason) -%}
repeated_keys as (

    select {{ keys | join(', ') }}
    from {{ relation }}
    where row_reason is null
    group by {{ keys | join(', ') }}
    having count(*) > 1

),

with_rejections as (

    select *, row_reason as rejection_reason
    from {{ relation }}
    where not exists {{ _repeated_key(relation, keys) }}

    union all

    select
        *,
        coalesce(
            row_reason,
            case when row_number() over (
                partition by {{ keys | join(', ') }}, (row_reason is null)
                order by {{ order_by }}
            ) > 1 then '{{ reason }}' end
        ) as rejection_reason
    from {{ relation }}
    where exists {{ _repeated_key(relation, keys) }}

)
{%- endmacro %}


{% macro _repeated_key(relation, keys) -%}
(select 1 from repeated_keys where {% for key in keys %}repeated_keys.{{ key }} = {{ relation }}.{{ key }}{{ ' and ' if not loop.last }}{% endfor %})
{%- endmacro %}
