{#- The fallback list for users the served model does not know
    (docs/serving-and-new-users.md): movies ranked by a damped mean rating,

        damped_mean_rating = (n x mean + m x global_mean) / (n + m)

    with n the movie's ratings, mean their average, global_mean the average of
    every rating of the same fit and m = var('popular_prior_ratings'): a
    movie's mean counts as much as its own ratings say, pulled towards the
    global mean by m imaginary average ratings, so a handful of 5.0s never
    outranks hundreds of 4.5s. Movies with fewer than
    var('popular_min_ratings') ratings are not listed. Ties: lower movie_id.

    Two fits in one table, like int_als_factors: 'all' (every clean rating) is
    what popular_movies and recommend_for serve; 'train' (the train part of
    the split) is what ranking_evaluation_by_activity judges on test, by the
    protocol every model is judged by. The formula lives only here, in SQL,
    so both engines and both uses share it.
    `score` is what the list is ranked by: damped_mean_rating, or on implicit
    feedback (interactions without ratings, where the means are null) the
    movie's interaction count. -#}
{%- set prior = integer_var('popular_prior_ratings', 0) -%}
{%- set min_ratings = integer_var('popular_min_ratings', 1) -%}

with fits as (

    select 'all' as fit, movie_id, rating from {{ ref('int_ratings_split') }}
    union all
    select 'train' as fit, movie_id, rating from {{ ref('int_ratings_split') }} where not is_test

),

global as (

    select fit, avg(rating) as global_mean from fits group by fit

),

per_movie as (

    select fit, movie_id, count(*) as n_ratings, avg(rating) as mean_rating
    from fits
    group by fit, movie_id

),

damped as (

    select
        per_movie.fit,
        per_movie.movie_id,
        per_movie.n_ratings,
        per_movie.mean_rating,
        (per_movie.n_ratings * per_movie.mean_rating + cast({{ prior }} as double) * global.global_mean)
            / (per_movie.n_ratings + cast({{ prior }} as double)) as damped_mean_rating,
        global.global_mean,
        coalesce((per_movie.n_ratings * per_movie.mean_rating + cast({{ prior }} as double) * global.global_mean)
            / (per_movie.n_ratings + cast({{ prior }} as double)), cast(per_movie.n_ratings as double)) as score
    from per_movie
    inner join global on per_movie.fit = global.fit
    where per_movie.n_ratings >= {{ min_ratings }}

)

select
    fit,
    cast(row_number() over (partition by fit order by score desc, movie_id) as bigint) as rank,
    movie_id,
    n_ratings,
    mean_rating,
    damped_mean_rating,
    score,
    global_mean,
    cast({{ prior }} as bigint) as prior_ratings,
    cast({{ min_ratings }} as bigint) as min_ratings
from damped
