{#- Every source rating row, typed where possible, with the first validation
    failure as `rejection_reason` (null = clean). stg_movielens__ratings and
    quarantine_ratings split this table, so the two always add up to the source. -#}

with source as (

    select * from {{ source('movielens', 'ratings') }}

),

fields as (

    select
        line as raw_line,
        {{ split_text('line', ratings_field_separator()) }} as parts
    from source

),

typed as (

    select
        raw_line,
        {{ list_length('parts') }} as n_fields,
        {%- for name in ['user_id', 'movie_id', 'rating', 'timestamp'] %}
        nullif(trim(trim({{ list_item('parts', loop.index) }}), '"'), '') as raw_{{ name }},
        {%- endfor %}
        try_cast(trim(trim({{ list_item('parts', 1) }}), '"') as bigint) as user_id,
        try_cast(trim(trim({{ list_item('parts', 2) }}), '"') as bigint) as movie_id,
        try_cast(trim(trim({{ list_item('parts', 3) }}), '"') as double) as rating,
        try_cast(trim(trim({{ list_item('parts', 4) }}), '"') as bigint) as rated_at_epoch
    from fields

),

movies as (

    select movie_id from {{ ref('stg_movielens__movies') }}

),

checked as (

    select
        typed.*,
        case
            when typed.n_fields <> 4 then 'wrong_field_count'
            when typed.raw_user_id is null or typed.raw_movie_id is null
                or typed.raw_rating is null or typed.raw_timestamp is null then 'missing_field'
            when typed.user_id is null then 'unparseable_user_id'
            when typed.movie_id is null then 'unparseable_movie_id'
            when typed.rating is null then 'unparseable_rating'
            when typed.rated_at_epoch is null then 'unparseable_timestamp'
            when typed.user_id <= 0 then 'user_id_not_positive'
            when typed.movie_id <= 0 then 'movie_id_not_positive'
            when typed.rating < 0.5 or typed.rating > 5.0 then 'rating_out_of_range'
            when typed.rating * 2 <> round(typed.rating * 2) then 'rating_off_half_star_grid'
            when typed.rated_at_epoch < 0 then 'timestamp_negative'
            -- past 9999-12-31: no timestamp type can hold it
            when typed.rated_at_epoch > 253402300799 then 'timestamp_out_of_range'
            when movies.movie_id is null then 'movie_not_in_movies'
        end as row_reason
    from typed
    left join movies on typed.movie_id = movies.movie_id

),

ranked as (

    select
        *,
        case when row_reason is null then
            row_number() over (
                partition by user_id, movie_id, (row_reason is null)
                order by rated_at_epoch desc, rating desc
            )
        end as recency_rank
    from checked

)

select
    raw_line,
    raw_user_id,
    raw_movie_id,
    raw_rating,
    raw_timestamp,
    user_id,
    movie_id,
    rating,
    rated_at_epoch,
    coalesce(
        row_reason,
        case when recency_rank > 1 then 'duplicate_superseded_by_later_rating' end
    ) as rejection_reason
from ranked
