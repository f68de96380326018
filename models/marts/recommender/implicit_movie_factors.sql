{{ factor_view('implicit_factors', 'movie', 'implicit_als') }}
