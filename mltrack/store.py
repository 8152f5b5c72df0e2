"""Where runs go: the one place that decides the tracking store.

MLflow's order, then mltrack's project store:

1. a URI set in code with ``mlflow.set_tracking_uri`` (after ``import mltrack`` too);
2. the environment: ``MLTRACK_TRACKING_URI``, else ``MLFLOW_TRACKING_URI``;
3. ``tracking_uri`` in the project's ``.mltrack.yml``;
4. the project's embedded sqlite store, ``.mltrack/mlflow.db`` (created on first use).

The decision is made once per process and again only when one of its inputs changed
(a URI set in code, the variables, the working directory, the config file). MLflow is
then pointed at the result, which also exports it in ``MLFLOW_TRACKING_URI``, so a
subprocess inherits the same store. Everything in mltrack asks :func:`tracking_store`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from mltrack.config import CONFIG_FILENAME, Settings, find_config_file, load_settings
from mltrack.uris import repr_without_passwords

__all__ = ["TrackingStore", "tracking_store"]

Source = Literal["code", "environment", "config", "embedded"]


@repr_without_passwords
@dataclass(frozen=True)
class TrackingStore:
    """The tracking store in effect and why.

    Attributes:
        uri: the tracking URI (may hold a password: redact before showing it).
        source: which rule chose it: ``code``, ``environment``, ``config`` or ``embedded``.
        origin: where that rule found it, in words (``MLFLOW_TRACKING_URI``, a file path).
    """

    uri: str
    source: Source
    origin: str

    def describe(self) -> str:
        """``set in code`` / ``from MLFLOW_TRACKING_URI`` / ..., for ``ml doctor``."""
        return {
            "code": "set in code (mlflow.set_tracking_uri)",
            "environment": f"from {self.origin}",
            "config": f"from {self.origin}",
            "embedded": "the project's embedded store",
        }[self.source]


@dataclass
class _State:
    inputs: tuple[object, ...] | None = None
    store: TrackingStore | None = None
    #: The URI mltrack itself passed to ``mlflow.set_tracking_uri`` (not the user's).
    applied: str | None = None
    #: What that call wrote into MLFLOW_TRACKING_URI (it was not the user's setting).
    wrote_env: str | None = None


_STATE = _State()
_LOCK = threading.Lock()


def _code_uri() -> str | None:
    from mlflow.tracking._tracking_service import utils as tracking_utils

    value = tracking_utils._tracking_uri
    return None if value is None else str(value)


def _inputs(start: Path) -> tuple[object, ...]:
    config = find_config_file(start)
    mtime = config.stat().st_mtime_ns if config is not None else None
    return (
        _code_uri(),
        os.environ.get("MLTRACK_TRACKING_URI"),
        os.environ.get("MLFLOW_TRACKING_URI"),
        str(start),
        str(config),
        mtime,
    )


def _decide(settings: Settings | None, start: Path, create: bool = True) -> TrackingStore:
    code = _code_uri()
    if code is not None and code != _STATE.applied:
        return TrackingStore(code, "code", "mlflow.set_tracking_uri")
    for var in ("MLTRACK_TRACKING_URI", "MLFLOW_TRACKING_URI"):
        value = os.environ.get(var)
        if value and value != _STATE.wrote_env:
            return TrackingStore(value, "environment", var)
    # The file alone: the environment was looked at above.
    file_settings = load_settings(start=start, environ={})
    if file_settings.tracking_uri:
        where = file_settings.config_path or CONFIG_FILENAME
        return TrackingStore(file_settings.tracking_uri, "config", str(where))
    root = (settings or file_settings).project_root
    return TrackingStore(local_store_uri(root, create), "embedded", str(root / ".mltrack"))


def tracking_store(settings: Settings | None = None, apply: bool = True) -> TrackingStore:
    """Decide the tracking store (see the module docs) and point MLflow at it.

    Args:
        settings: loaded settings, for the project root of the embedded store
            (default: loaded from the working directory).
        apply: ``False`` only reports the decision (``ml doctor``): MLflow is not pointed
            at it and the embedded store is not created.
    """
    import mlflow

    start = settings.project_root if settings is not None else Path.cwd().resolve()
    if not apply:
        with _LOCK:
            return _decide(settings, start, create=False)
    with _LOCK:
        inputs = _inputs(start)
        if _STATE.store is not None and inputs == _STATE.inputs:
            return _STATE.store
        store = _decide(settings, start)
        if store.source != "code" and mlflow.get_tracking_uri() != store.uri:
            before = os.environ.get("MLFLOW_TRACKING_URI")
            mlflow.set_tracking_uri(store.uri)
            _STATE.applied = store.uri
            _STATE.wrote_env = store.uri if before != store.uri else _STATE.wrote_env
        _STATE.store, _STATE.inputs = store, _inputs(start)
        return store


def local_store_uri(project_root: Path, create: bool = True) -> str:
    """The project's embedded sqlite store, created (fast, from the schema template)."""
    from mltrack.localserver import template_db

    folder = project_root / ".mltrack"
    db = folder / "mlflow.db"
    if create and not db.exists():
        (folder / "artifacts").mkdir(parents=True, exist_ok=True)
        partial = db.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(template_db(), partial)
        with contextlib.closing(sqlite3.connect(partial)) as conn:
            conn.execute(
                "UPDATE experiments SET artifact_location=? WHERE experiment_id=0",
                ((folder / "artifacts" / "0").as_uri(),),
            )
            conn.commit()
        partial.replace(db)
    return f"sqlite:///{db}"
