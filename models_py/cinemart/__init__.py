"""Cinemart: the Python side of the movie-recommendation warehouse.

Pure functions over NumPy/SciPy/Arrow; nothing here imports dbt, so pytest can
exercise every piece directly and the dbt Python models stay thin.
"""

__version__ = "0.1.0"
