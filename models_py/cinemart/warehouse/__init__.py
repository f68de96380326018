"""The warehouse side: the DuckDB engine's table functions for dbt, run audit, the dbt runner, publishing."""
