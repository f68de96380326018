select
    movie_genres.movie_id,
    movies.title,
    movies.release_year,
    movie_genres.genre
from {{ ref('int_movie_genres') }} as movie_genres
inner join {{ ref('stg_movielens__movies') }} as movies
    on movie_genres.movie_id = movies.movie_id
