select
    id as movie_id,
    bias,
    factors,
    n_ratings,
    global_mean,
    'implicit_als' as model,
    run_id
from {{ ref('implicit_factors') }}
where entity = 'movie'
