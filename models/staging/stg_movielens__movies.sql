with source as (

    select * from {{ source('movielens', 'movies') }}

),

renamed as (

    select
        try_cast(trim(movieId) as bigint) as movie_id,
        trim(title) as full_title,
        -- "Toy Story (1995)" -> title "Toy Story", release_year 1995; titles
        -- without a trailing 4-digit year (none, or a range) keep their text.
        regexp_extract(trim(title), '^(.*?)\s*\((\d{4})\)$', 1) as title_without_year,
        try_cast(regexp_extract(trim(title), '\((\d{4})\)$', 1) as integer) as release_year,
        {{ genre_list('genres') }} as genres
    from source

)

select
    movie_id,
    coalesce(nullif(title_without_year, ''), full_title) as title,
    full_title,
    release_year,
    genres
from renamed
