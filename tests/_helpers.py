"""Helpers shared by test modules (import as ``from tests._helpers import ...``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_ml(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``ml`` entry point (``python -m mltrack``) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        timeout=180,
    )


def start_ml(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``ml`` (``python -m mltrack``) in its own session, stdout and stderr piped as one."""
    return subprocess.Popen(
        [sys.executable, "-m", "mltrack", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def status_for_host(port: int, host: str, auth: str | None = None) -> int:
    """HTTP status of an API read on 127.0.0.1:``port`` sent with ``Host: host``.

    The URL's host name travels in that header: this is what a client whose URL names
    ``host`` gets from MLflow's Host check. ``auth`` is ``"user:password"`` for basic auth.
    """
    import base64
    import http.client

    headers = {"Host": host}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", "/api/2.0/mlflow/experiments/search?max_results=1", headers=headers)
        return conn.getresponse().status
    finally:
        conn.close()
