{#- Every source movie row, typed, with the first failed check as
    `rejection_reason` (null = clean); stg_movielens__movies and
    quarantine_movies split it. A movieId listed more than once keeps the row
    whose title, then genres, sorts first: a rule on the content, because SQL
    engines do not keep file order. -#}

with source as (

    select * from {{ source('movielens', 'movies') }}

),

typed as (

    select
        movieId as raw_movie_id,
        title as raw_title,
        genres as raw_genres,
        surplus,
        {{ warehouse_id('movie', raw_field('movieId')) }} as movie_id
    from source

),

checked as (

    select
        *,
        case
            {{- field_count_check('raw_genres') }}
            {{- id_checks('movie_id', raw_field('raw_movie_id'), 'movie_id') }}
            when {{ raw_field('raw_title') }} is null then 'missing_field'
        end as row_reason
    from typed

),

{{ with_duplicate_rejections('checked', ['movie_id'], 'raw_title, raw_genres',
                             'duplicate_movie_id') }}

select
    raw_movie_id,
    raw_title,
    raw_genres,
    movie_id,
    rejection_reason
from with_rejections
