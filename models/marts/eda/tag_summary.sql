{#- Tags folded to lower case and trimmed, so "Funny" and "funny " count together. -#}

with tags as (

    select lower(trim(tag)) as tag, user_id, movie_id
    from {{ ref('stg_movielens__tags') }}
    where tag is not null and trim(tag) <> ''

)

select
    tag,
    count(*) as n_uses,
    count(distinct movie_id) as n_movies,
    count(distinct user_id) as n_users
from tags
group by tag
