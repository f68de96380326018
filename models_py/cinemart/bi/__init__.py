"""BI tools on the served warehouse: the Superset dashboard shipped as code.

Superset runs in its own virtualenv (its pins — SQLAlchemy 1.4, pandas 2.1 —
would break the project's), so this package never imports it: it writes the
export bundle, drives the `superset` command of that venv and talks to the
server over HTTP.
"""
