""":func:`migrate`: a backup of a sqlite database, then ``mlflow db upgrade``."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from mltrack.errors import ConfigError, TrackingServerError
from mltrack.teamserver._check import _first_line
from mltrack.teamserver._config import _postgres_driver
from mltrack.teamserver._uris import _SQL_SCHEMES, _scheme, _sqlite_path
from mltrack.uris import redact_uri


@dataclass
class MigrationResult:
    """What :func:`migrate` did."""

    backend: str
    backup: Path | None
    revision_before: str | None
    revision_after: str | None


_MIGRATE_MODULES = ("sqlalchemy", "alembic.migration", "mlflow.store.db.utils", "mlflow.db")


def _run_with_url(command: str, url: str) -> subprocess.CompletedProcess[str]:
    # The URL (maybe with a password) travels in the environment, never on a command line.
    env = {**os.environ, "MLTRACK_MIGRATE_URL": url, "PYTHONWARNINGS": "ignore"}
    from mltrack._process import can_fork

    if can_fork():
        # A fork of this process: SQLAlchemy, alembic and MLflow's stores are imported once
        # here for the three steps (revision, upgrade, revision), none reads the URL's env.
        from mltrack.teamserver import _migrate_db
        from mltrack.teamserver._fork import preimport, run_forked

        preimport(_MIGRATE_MODULES)
        step = {"revision": _migrate_db.revision, "upgrade": _migrate_db.upgrade}[command]
        return run_forked(
            lambda: step(url), env=env, cwd=os.getcwd(), timeout=1800, name=b"mltrack-migrate"
        )
    return subprocess.run(
        [sys.executable, "-m", "mltrack.teamserver._migrate_db", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def schema_revision(backend: str) -> str | None:
    """The alembic revision a tracking database is at (None when it has no schema)."""
    done = _run_with_url("revision", backend)
    if done.returncode != 0:
        reason = _first_line(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "")
        raise TrackingServerError(f"cannot read the schema of {redact_uri(backend)}: {reason}")
    return done.stdout.strip() or None


def backup_sqlite(path: Path, backup_dir: Path | None = None) -> Path:
    """Copy a sqlite database consistently (sqlite's backup API) to a timestamped file."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target_dir = backup_dir or path.parent
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / f"{path.name}.backup-{stamp}"
    counter = 1
    while target.exists():
        target = target_dir / f"{path.name}.backup-{stamp}-{counter}"
        counter += 1
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()
    return target


def migrate(backend: str, backup_dir: Path | None = None, backup: bool = True) -> MigrationResult:
    """Upgrade a tracking database to this MLflow's schema (``mlflow db upgrade``).

    For sqlite a consistent, timestamped copy is written first (next to the database or in
    ``backup_dir``). For server databases (PostgreSQL, MySQL) take a backup with your
    database tools (``pg_dump``) before; mltrack cannot do it without their credentials.

    Raises:
        ConfigError: the URI is not a database URI or the sqlite file does not exist.
        TrackingServerError: the upgrade failed (the backup, if any, is named).
    """
    if _scheme(backend) not in _SQL_SCHEMES:
        raise ConfigError(
            f"--backend {redact_uri(backend)!r} is not a database URI; e.g. sqlite:///mlflow.db "
            "or postgresql://USER:PASSWORD@HOST:5432/DB"
        )
    if _scheme(backend) == "postgresql":
        backend = _postgres_driver(backend)  # as the server does: psycopg2 when it is all
    copy: Path | None = None
    sqlite_file = _sqlite_path(backend)
    if sqlite_file is not None:
        if not sqlite_file.is_file():
            raise ConfigError(f"no sqlite database at {sqlite_file}; check the --backend path")
        if backup:
            copy = backup_sqlite(sqlite_file, backup_dir)
    before = schema_revision(backend)
    done = _run_with_url("upgrade", backend)
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["unknown error"])[-1]
        password = urllib.parse.urlsplit(backend).password
        if password:
            reason = reason.replace(password, "***")
        saved = f"; the backup is {copy}" if copy else ""
        raise TrackingServerError(
            f"migration of {redact_uri(backend)} failed: {reason[:300]}{saved}"
        )
    return MigrationResult(redact_uri(backend), copy, before, schema_revision(backend))
