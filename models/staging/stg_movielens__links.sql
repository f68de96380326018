with validated as (

    select * from {{ ref('base_movielens__links') }}
    where rejection_reason is null

)

select
    movie_id,
    -- IMDb ids are zero-padded ("0114709"): kept as text so they still join to IMDb URLs.
    {{ raw_field('raw_imdb_id') }} as imdb_id,
    tmdb_id
from validated
