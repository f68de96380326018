with validated as (

    select * from {{ ref('base_movielens__movies') }}
    where rejection_reason is null

),

renamed as (

    select
        movie_id,
        {{ raw_field('raw_movie_id') }} as source_movie_id,
        trim(raw_title) as full_title,
        -- "Toy Story (1995)" -> title "Toy Story", release_year 1995; titles
        -- without a trailing 4-digit year (none, or a range) keep their text.
        regexp_extract(trim(raw_title), {{ regex_literal('^(.*?)\s*\((\d{4})\)$') }}, 1) as title_without_year,
        try_cast(regexp_extract(trim(raw_title), {{ regex_literal('\((\d{4})\)$') }}, 1) as integer) as release_year,
        {{ genre_list('raw_genres') }} as genres
    from validated

)

select
    movie_id,
    source_movie_id,
    coalesce(nullif(title_without_year, ''), full_title) as title,
    full_title,
    release_year,
    genres
from renamed
