{#- Every source link row, typed, with the first failed check as
    `rejection_reason` (null = clean); stg_movielens__links and
    quarantine_links split it. Either external id may be empty (TMDb has no
    entry for some movies); when given it must be a positive integer. A movieId
    listed more than once keeps the row whose imdbId, then tmdbId, sorts first. -#}

with source as (

    select * from {{ source('movielens', 'links') }}

),

typed as (

    select
        movieId as raw_movie_id,
        imdbId as raw_imdb_id,
        tmdbId as raw_tmdb_id,
        surplus,
        {{ warehouse_id('movie', raw_field('movieId')) }} as movie_id,
        {{ integer_field(raw_field('imdbId')) }} as imdb_number,
        {{ integer_field(raw_field('tmdbId')) }} as tmdb_id
    from source

),

checked as (

    select
        *,
        case
            {{- field_count_check('raw_tmdb_id') }}
            {{- id_checks('movie_id', raw_field('raw_movie_id'), 'movie_id') }}
            {{- id_checks('imdb_id', raw_field('raw_imdb_id'), 'imdb_number', required=false) }}
            {{- id_checks('tmdb_id', raw_field('raw_tmdb_id'), 'tmdb_id', required=false) }}
            {{- known_movie_check('movie_id') }}
        end as row_reason
    from typed

),

{{ with_duplicate_rejections('checked', ['movie_id'], 'raw_imdb_id, raw_tmdb_id',
                             'duplicate_movie_id') }}

select
    raw_movie_id,
    raw_imdb_id,
    raw_tmdb_id,
    movie_id,
    tmdb_id,
    rejection_reason
from with_rejections
