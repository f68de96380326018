with neighbours as (

    select * from {{ ref('int_similar_movies') }}

),

movies as (

    select movie_id, title from {{ ref('movies') }}

)

select
    neighbours.movie_id,
    movies.title,
    neighbours.rank,
    neighbours.similar_movie_id,
    neighbour.title as similar_title,
    neighbours.similarity,
    neighbours.source,
    neighbours.model,
    neighbours.run_id
from neighbours
inner join movies on neighbours.movie_id = movies.movie_id
inner join movies as neighbour on neighbours.similar_movie_id = neighbour.movie_id
