with source as (

    select * from {{ source('movielens', 'links') }}

),

renamed as (

    select
        try_cast(trim(movieId) as bigint) as movie_id,
        -- IMDb ids are zero-padded ("0114709"): kept as text so they still join to IMDb URLs.
        nullif(trim(imdbId), '') as imdb_id,
        try_cast(nullif(trim(tmdbId), '') as bigint) as tmdb_id
    from source

)

select * from renamed
