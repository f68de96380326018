{#- One row per movie x genre. Movies without genres get the literal
    '(no genres listed)' so every movie is counted under some genre value,
    matching how MovieLens itself labels them. -#}

with movies as (

    select movie_id, genres from {{ ref('stg_movielens__movies') }}

),

listed as (

    select movie_id, genre from {{ explode_list_from('movies', 'genres', 'genre') }}

),

unlisted as (

    select movie_id, '(no genres listed)' as genre
    from movies
    where {{ list_length('genres') }} = 0

)

select movie_id, genre from listed
union all
select movie_id, genre from unlisted
