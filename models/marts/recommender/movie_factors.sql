select
    id as movie_id,
    bias,
    factors,
    n_ratings,
    global_mean,
    'explicit_als' as model,
    run_id
from {{ ref('als_factors') }}
where entity = 'movie'
