with source as (

    select * from {{ source('movielens', 'tags') }}

),

renamed as (

    select
        try_cast(trim(userId) as bigint) as user_id,
        try_cast(trim(movieId) as bigint) as movie_id,
        tag,
        {{ epoch_seconds_to_timestamp('try_cast(trim("timestamp") as bigint)') }} as tagged_at
    from source

)

select * from renamed
