{#- A list whose scores are all zero ranks nothing the served model learned
    about the user (score-0 ties broken by movie_id): it must be served as the
    popular_movies fallback, never labelled personalised
    (cinemart.models.base.Factors.personalised). -#}
select user_id, count(*) as n_recommended
from {{ ref('user_recommendations') }}
where source = 'personalised'
group by user_id
having max(abs(score)) = 0
