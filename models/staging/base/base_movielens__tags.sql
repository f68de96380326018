{#- Every source tag row, typed, with the first failed check as
    `rejection_reason` (null = clean); stg_movielens__tags and quarantine_tags
    split it. Repeated tags are kept: applying a tag twice is not an error. -#}

with source as (

    select * from {{ source('movielens', 'tags') }}

),

typed as (

    select
        userId as raw_user_id,
        movieId as raw_movie_id,
        tag as raw_tag,
        {{ adapter.quote('timestamp') }} as raw_timestamp,
        surplus,
        {{ warehouse_id('user', raw_field('userId')) }} as user_id,
        {{ warehouse_id('movie', raw_field('movieId')) }} as movie_id,
        {{ integer_field(raw_field(adapter.quote('timestamp'))) }} as tagged_at_epoch
    from source

)

select
    raw_user_id,
    raw_movie_id,
    raw_tag,
    raw_timestamp,
    user_id,
    movie_id,
    tagged_at_epoch,
    case
        {{- field_count_check('raw_timestamp') }}
        {{- id_checks('user_id', raw_field('raw_user_id'), 'user_id') }}
        {{- id_checks('movie_id', raw_field('raw_movie_id'), 'movie_id') }}
        when {{ raw_field('raw_tag') }} is null then 'missing_field'
        {{- epoch_checks(raw_field('raw_timestamp'), 'tagged_at_epoch') }}
        {{- known_movie_check('movie_id') }}
    end as rejection_reason
from typed
