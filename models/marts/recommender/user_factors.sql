{{ factor_view('als_factors', 'user', 'explicit_als') }}
