{#- A movie the user already rated is never recommended to them. -#}
select recommendations.user_id, recommendations.movie_id
from {{ ref('user_recommendations') }} as recommendations
inner join {{ ref('stg_movielens__ratings') }} as rated
    on recommendations.user_id = rated.user_id
   and recommendations.movie_id = rated.movie_id
