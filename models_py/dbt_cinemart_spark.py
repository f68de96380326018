"""dbt-core plugin entry: dbt imports top-level `dbt_*` modules and loads their `plugins`.

Registers in-session Python-model execution for dbt-spark's `method: session`
(see cinemart/spark/dbt_session.py). Kept to this one re-export so the code
itself lives in the package.
"""

from cinemart.spark.dbt_session import plugins  # noqa: F401
