"""Everything cinemart.spark takes from the rest of the package, imported in ONE place.

The package is being reorganised into sub-packages; when a module moves, only
the import lines below change. The Spark code uses the same settings parsing
(dbt vars -> validated settings, grid presets) and run-id recipe as the
DuckDB path, so both engines accept and reject exactly the same vars.
"""

from cinemart.explicit_training import ExplicitSettings  # noqa: F401  als_* settings, explicit grid presets
from cinemart.ranking import CONFIDENCE_KINDS, ImplicitParams  # noqa: F401
from cinemart.ranking_metrics import RELEVANT_MIN_RATING  # noqa: F401
from cinemart.ranking_training import RankingSettings  # noqa: F401  implicit_* settings
from cinemart.ranking_tuning import validate_grid as expand_implicit_grid  # noqa: F401
from cinemart.ratings_data import library_versions as package_library_versions, run_id  # noqa: F401
from cinemart.tuning import GridPoint, expand_grid  # noqa: F401
