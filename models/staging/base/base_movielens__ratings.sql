{#- Every source rating line, typed where possible, with the first failed check
    as `rejection_reason` (null = clean). stg_movielens__ratings and
    quarantine_ratings split this table, so the two always add up to the source.
    When a user rated a movie more than once the latest rating is kept (then
    the higher one, then the first raw line, so the choice never depends on
    row order).
    Implicit feedback (own data without a rating column, macros/own_data.sql)
    has no rating to check: each row is an interaction with a play count (1
    when the file has none). A user's repeated interactions with a movie are
    one interaction whose play count is their sum, kept on the latest row;
    the other rows are quarantined as counted in it, so none is lost. -#}

{{ config(pre_hook="{{ duckdb_memory_limit_hook('loading') }}", post_hook="{{ duckdb_memory_limit_hook('planned') }}") }}

{%- set implicit = implicit_feedback() %}

with source as (

    select * from {{ source('movielens', 'ratings') }}

),

{%- if reads_own_data() %}

{#- own data arrives split into fields (macros/own_data.sql); raw_line is
    the four fields joined by commas, an absent field empty -#}
raw as (

    select
        concat_ws(',', {% for name in ['user_id', 'movie_id', 'plays' if implicit else 'rating', 'timestamp'] -%}
            coalesce(raw_{{ name }}, ''){{ ', ' if not loop.last }}{% endfor %}) as raw_line,
        4 as n_fields,
        raw_user_id,
        raw_movie_id,
        raw_rating,
        raw_timestamp,
        raw_plays
    from source

),
{%- else %}

fields as (

    select
        line as raw_line,
        {{ split_text('line', ratings_field_separator()) }} as parts
    from source

),

raw as (

    select
        raw_line,
        {{ list_length('parts') }} as n_fields,
        {%- for name in ['user_id', 'movie_id', 'rating', 'timestamp'] %}
        nullif({{ trim_characters('trim(' ~ list_item('parts', loop.index) ~ ')', '"') }}, '') as raw_{{ name }},
        {%- endfor %}
        cast(null as {{ dbt.type_string() }}) as raw_plays
    from fields

),
{%- endif %}

typed as (

    select
        *,
        {{ warehouse_id('user', 'raw_user_id') }} as user_id,
        {{ warehouse_id('movie', 'raw_movie_id') }} as movie_id,
        try_cast(raw_rating as double) as rating,
        {{ integer_field('raw_timestamp') }} as rated_at_epoch,
        {%- if implicit %}
        coalesce(try_cast(raw_plays as double), case when raw_plays is null then 1.0 end) as play_count
        {%- else %}
        cast(null as double) as play_count
        {%- endif %}
    from raw

),

checked as (

    select
        *,
        case
            when {{ raw_field('raw_line') }} is null then 'blank_line'
            when n_fields <> 4 then 'wrong_field_count'
            {{- id_checks('user_id', 'raw_user_id', 'user_id') }}
            {{- id_checks('movie_id', 'raw_movie_id', 'movie_id') }}
            {%- if implicit %}
            when play_count is null then 'unparseable_play_count'
            {#- NaN sorts above every number on both engines, so it is out of range too #}
            when not (play_count > 0 and play_count < 1e9) then 'play_count_out_of_range'
            {%- else %}
            when raw_rating is null then 'missing_field'
            when rating is null then 'unparseable_rating'
            when rating < 0.5 or rating > 5.0 then 'rating_out_of_range'
            when rating * 2 <> round(rating * 2) then 'rating_off_half_star_grid'
            {%- endif %}
            {{- epoch_checks('raw_timestamp', 'rated_at_epoch') }}
            {{- known_movie_check('movie_id') }}
        end as row_reason
    from typed

),

{%- if implicit %}
{{ with_duplicate_rejections('checked', ['user_id', 'movie_id'], 'rated_at_epoch desc, raw_line',
                             'duplicate_counted_in_latest_interaction') }},

summed as (

    select
        * ,
        case when rejection_reason is null
             then sum(case when row_reason is null then play_count end) over (partition by user_id, movie_id)
             else play_count end as summed_play_count
    from with_rejections

)
{%- else %}
{{ with_duplicate_rejections('checked', ['user_id', 'movie_id'], 'rated_at_epoch desc, rating desc, raw_line',
                             'duplicate_superseded_by_later_rating') }}
{%- endif %}

select
    raw_line,
    raw_user_id,
    raw_movie_id,
    raw_rating,
    raw_timestamp,
    raw_plays,
    user_id,
    movie_id,
    rating,
    rated_at_epoch,
    {{ 'summed_play_count' if implicit else 'play_count' }} as play_count,
    rejection_reason
from {{ 'summed' if implicit else 'with_rejections' }}
