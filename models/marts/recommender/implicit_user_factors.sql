{#- bias and global_mean are 0: implicit ALS scores are plain dot products. They
    are kept so every factor model shares one scoring formula in SQL. -#}
{{ factor_view('implicit_factors', 'user', 'implicit_als') }}
