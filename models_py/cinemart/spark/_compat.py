"""Everything cinemart.spark takes from the rest of the package, imported in ONE place.

When a module of the package moves, only the import lines below change. The
Spark code uses the same settings parsing (dbt vars -> validated settings,
grid presets) and run-id recipe as the DuckDB path, so both engines accept and
reject exactly the same vars.
"""

from cinemart.data.ids import IdIndex  # noqa: F401
from cinemart.data.ratings import INTERACTION_RATING  # noqa: F401  what an interaction without a rating counts as
from cinemart.evaluation.activity import ACTIVITY_BUCKETS  # noqa: F401
from cinemart.evaluation.beyond import beyond_accuracy  # noqa: F401  beyond-accuracy measures, one NumPy function
from cinemart.evaluation.ranking import RELEVANT_MIN_RATING  # noqa: F401
from cinemart.evaluation.users import EvaluationUsers, evaluation_users  # noqa: F401
from cinemart.models.implicit_als import CONFIDENCE_KINDS, ImplicitParams, non_finite_factors  # noqa: F401
from cinemart.models.popularity import POPULAR_MIN_RATING  # noqa: F401
from cinemart.tuning.explicit import (  # noqa: F401
    GridPoint, GridResult, expand_grid, require_methods, rmse_standard_error, select)
from cinemart.tuning.implicit import grid_for_feedback, validate_grid as expand_implicit_grid  # noqa: F401
from cinemart.tuning.plan import TuningPolicy, sample_users, samples_users  # noqa: F401  the tuning sample rule
from cinemart.warehouse.audit import library_versions as package_library_versions, run_id  # noqa: F401
from cinemart.warehouse.explicit_tables import (  # noqa: F401  als_* settings, explicit grid presets, grid rows
    AUTO_SOLVER, NOT_BUILT_ON_IMPLICIT, ExplicitSettings, grid_columns, point_of, selection_line)
from cinemart.warehouse.ranking_tables import (  # noqa: F401  implicit_* settings, the fallback list's labels
    BEYOND_COLUMNS, EASE_EXPLAINED, FALLBACK_MODEL, FALLBACK_SOURCE, NON_PERSONAL_MODELS, PROTOCOL_PARTS,
    RankingSettings, content_of, ease_explanations)
from cinemart.warehouse.factor_tables import ServedFactors  # noqa: F401  a factor table loaded on the driver
from cinemart.warehouse import similarity_tables as similarity  # noqa: F401  similar movies' shared NumPy
from cinemart.similarity.content import ContentVectors  # noqa: F401
from cinemart.models.blend import BLEND_WEIGHTS, blend  # noqa: F401  the EASE + implicit ALS blend, one NumPy function
from cinemart.tuning.ease import validate_grid as validate_ease_grid  # noqa: F401
from cinemart.warehouse import ease_tables  # noqa: F401  EASE's settings, scope text and choice, as on DuckDB
from cinemart.warehouse.ease_tables import EaseChoice, EaseSettings  # noqa: F401
from cinemart.models.ease import ease_items  # noqa: F401  the budget rule
