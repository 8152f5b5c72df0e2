"""App factories for ``server_writes.py``: the throwaway app's two savings taken apart.

``uvicorn --factory _server_apps:no_fsync_app`` (with ``--app-dir scripts/bench``) runs
MLflow's app with SQLite's fsync off but every call through MLflow's FastAPI layer: the
throwaway app minus :class:`mltrack.serverapp.FlaskRoutesDirect`.
"""

from __future__ import annotations

from typing import Any


def no_fsync_app() -> Any:
    from mltrack.serverapp import plain_app, sqlite_without_fsync

    sqlite_without_fsync()
    return plain_app()
