with recommendations as (

    select * from {{ ref('int_user_recommendations') }}

),

movies as (

    select movie_id, title, genres from {{ ref('movies') }}

)

select
    recommendations.user_id,
    recommendations.rank,
    recommendations.movie_id,
    movies.title,
    movies.genres,
    recommendations.score,
    recommendations.model,
    recommendations.source,
    recommendations.because_you_liked_movie_id,
    liked.title as because_you_liked,
    recommendations.because_similarity,
    recommendations.run_id
from recommendations
inner join movies on recommendations.movie_id = movies.movie_id
left join movies as liked on recommendations.because_you_liked_movie_id = liked.movie_id
