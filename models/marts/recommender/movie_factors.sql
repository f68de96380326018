{{ factor_view('als_factors', 'movie', 'explicit_als') }}
