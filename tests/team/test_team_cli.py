"""``ml server`` as a user runs it: a real server process, its output, its errors, migrate.

The server itself runs as a process of its own; the other commands run in-process through
the CLI's entry point (``tests._helpers.ml_in_process``), except one bad option and the
password check, which run as a person runs them.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mltrack.teamserver import TeamServerConfig
from tests._helpers import ml_in_process, start_ml

ML = [sys.executable, "-m", "mltrack"]


def _ml(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``ml ARGS`` in-process, with ``env`` added to this process's environment."""
    return ml_in_process(*args, env=env, cwd=cwd)


def _ml_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The same in a process of its own, through the installed entry point."""
    return subprocess.run(
        [*ML, *args],
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--backend", "mongodb://x"], "is not a database URI"),
        (["--artifacts", "ftpx://bucket"], "unsupported scheme"),
        (["--default-permission", "ROOT"], "default permission 'ROOT' is invalid"),
        (["--workers", "0"], "--workers 0 must be at least 1"),
    ],
)
def test_bad_options_are_one_line_errors(args: list[str], expected: str, tmp_path: Path) -> None:
    run = _ml_process if args[0] == "--workers" else _ml  # one as a process: nothing else
    done = run("server", *args, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert expected in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def test_password_in_backend_uri_never_printed(tmp_path: Path) -> None:
    secret = "pw-" + uuid.uuid4().hex
    uri = f"postgresql://mlflow:{secret}@127.0.0.1:1/mlflow"  # nothing listens on port 1
    # A process of its own: whatever reaches its stdout or stderr is checked for the secret.
    done = _ml_process("server", "--port", "0", env={"MLFLOW_BACKEND_STORE_URI": uri}, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "could not prepare postgresql" in output and "mlflow:***@127.0.0.1:1" in output
    assert secret not in output and "Traceback" not in output


def test_auth_without_admin_password_is_a_clear_error(tmp_path: Path) -> None:
    done = ml_in_process(
        *("server", "--auth", "--port", "0", "--backend", f"sqlite:///{tmp_path}/m.db"),
        cwd=tmp_path,
        drop_env=("MLFLOW_AUTH_ADMIN",),
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "MLFLOW_AUTH_ADMIN_PASSWORD" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_ml_server_sqlite_auth_serves_checks_and_stops_cleanly(tmp_path: Path) -> None:
    admin_password = "Adm1n-" + uuid.uuid4().hex
    env = {
        **os.environ,
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    # Under a keeper: a SIGKILLed pytest takes the server along.
    proc = start_ml(
        "server", "--auth", "--port", "0", "--workers", "1", "--artifacts", "art",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C stops the server" in line:
                break
        banner = "".join(lines)
        match = re.search(r"mltrack team server (http://127\.0\.0\.1:\d+)", banner)
        assert match, banner
        url = match.group(1)
        assert f"export MLFLOW_TRACKING_URI={url}" in banner
        assert "MLFLOW_TRACKING_USERNAME" in banner and "basic-auth" in banner
        assert admin_password not in banner

        ok = _ml(
            "server",
            "--check",
            url,
            env={"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": admin_password},
        )
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "signed in as 'admin' (admin)" in ok.stdout and "round trip" in ok.stdout

        anonymous = _ml(
            "server",
            "--check",
            url,
            env={"MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": ""},
        )
        assert anonymous.returncode == 2 and "requires authentication" in anonymous.stderr

        # Secrets generated for the server are private to its owner.
        state = tmp_path / ".mltrack" / "server"
        assert (state / "secret_key").stat().st_mode & 0o077 == 0
        assert (state / "basic_auth.ini").stat().st_mode & 0o077 == 0
        assert admin_password not in (state / "basic_auth.ini").read_text()
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130
    # The uvicorn workers went with it: nothing listens on the port any more.
    assert not _listening(int(url.rsplit(":", 1)[1]))
    log = (tmp_path / ".mltrack" / "server" / "server.log").read_text(errors="replace")
    assert admin_password not in log


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _downgrade_one(url: str) -> None:
    """Take a database one migration back with MLflow's own alembic scripts."""
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config

    command.downgrade(_get_alembic_config(url), "-1")


def _revision(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


@pytest.mark.slow
def test_migrate_backs_up_sqlite_then_upgrades_an_old_schema(tmp_path: Path) -> None:
    from mltrack.localserver import template_db

    db = tmp_path / "mlflow.db"
    db.write_bytes(template_db().read_bytes())
    head = _revision(db)
    _downgrade_one(f"sqlite:///{db}")
    old = _revision(db)
    assert old != head

    result = _ml("server", "migrate", "--backend", f"sqlite:///{db}", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{old} -> {head}" in result.stdout
    assert _revision(db) == head
    (backup,) = tmp_path.glob("mlflow.db.backup-*")
    assert re.fullmatch(r"mlflow\.db\.backup-\d{8}T\d{6}Z", backup.name)
    assert _revision(backup) == old  # the copy is the database as it was before

    again = _ml("server", "migrate", "--backend", f"sqlite:///{db}", "--no-backup", cwd=tmp_path)
    assert again.returncode == 0 and "already at" in again.stdout


def test_migrate_missing_sqlite_file_is_a_clear_error(tmp_path: Path) -> None:
    done = _ml("server", "migrate", "--backend", f"sqlite:///{tmp_path}/nope.db")
    assert done.returncode == 2
    assert "no sqlite database at" in done.stderr and "Traceback" not in done.stderr


def test_config_describe_has_no_secret() -> None:
    config = TeamServerConfig(backend="postgresql://u:topsecret@db/mlflow", auth=True)
    assert "topsecret" not in str(config.describe())


@pytest.mark.slow
@pytest.mark.postgres
def test_migrate_upgrades_an_old_postgres_schema_without_printing_the_password(
    postgres: Any,
) -> None:
    from mltrack.teamserver._config import _postgres_driver
    from mltrack.testing.postgres import load_mlflow_schema

    database = f"migrate_{uuid.uuid4().hex[:8]}"
    postgres.create_database(database)
    load_mlflow_schema(postgres, database)
    # Trust authentication on loopback ignores the password: it is here to be hidden.
    secret = "pw-" + uuid.uuid4().hex
    uri = postgres.uri_for(database).replace(f"{postgres.user}@", f"{postgres.user}:{secret}@")
    head = _pg_revision(postgres, database)
    _downgrade_one(_postgres_driver(uri))
    old = _pg_revision(postgres, database)
    assert old != head

    result = _ml("server", "migrate", env={"MLFLOW_BACKEND_STORE_URI": uri})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"{old} -> {head}" in result.stdout and _pg_revision(postgres, database) == head
    assert f"{postgres.user}:***@127.0.0.1" in output and secret not in output
    assert "backup" not in result.stdout  # only sqlite files are copied; pg_dump is the user's

    again = _ml("server", "migrate", "--backend", uri)
    assert again.returncode == 0 and f"already at {head}" in again.stdout
    assert secret not in again.stdout + again.stderr


def _pg_revision(postgres: Any, database: str) -> str:
    done = postgres.run(
        "psql",
        "-At",
        "-c",
        "SELECT version_num FROM alembic_version",
        *postgres._conn_args(database),
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
