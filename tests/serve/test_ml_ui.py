"""`ml ui`: the MLflow UI for the configured store; never opens a browser in CI."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mltrack._process import processes_with_env
from mltrack.localserver import free_port, wait_healthy
from tests._helpers import start_ml


def _fake_browser(tmp_path: Path) -> tuple[Path, Path]:
    """A BROWSER command (honoured by `webbrowser`) that records the URL it was given."""
    record = tmp_path / "opened.txt"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" >> {record}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, record


@pytest.mark.slow
def test_ml_ui_serves_the_local_store_and_opens_nothing_in_ci(tmp_path: Path) -> None:
    browser, record = _fake_browser(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    env.update({"CI": "true", "BROWSER": str(browser), "DISPLAY": ":0"})
    project = tmp_path / "project"
    project.mkdir()
    port = free_port()
    # Under a keeper: a SIGKILLed pytest takes it along.
    proc = start_ml("ui", "--port", str(port), cwd=project, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=150, proc=proc)
        experiments = httpx.get(
            f"{url}/api/2.0/mlflow/experiments/search", params={"max_results": 10}
        )
        assert experiments.status_code == 200
        assert (project / ".mltrack" / "mlflow.db").is_file()  # the project's local store
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C
        out, _ = proc.communicate(timeout=30)
    assert f"MLflow UI {url}" in out and "mlflow.db" in out, out
    assert "MLflow UI stopped" in out
    with pytest.raises(httpx.ConnectError):  # the UI process went with it
        httpx.get(url, timeout=2)
    assert not record.exists(), "a browser was opened although CI is set"


def test_ml_ui_with_a_server_store_prints_its_url(tracking_uri: str, tmp_path: Path) -> None:
    browser, record = _fake_browser(tmp_path)
    env = {**os.environ, "CI": "", "BROWSER": str(browser), "DISPLAY": ""}
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "mltrack", "ui"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert tracking_uri in proc.stdout
    assert not record.exists()  # no display: nothing to open


@pytest.mark.slow
def test_ml_ui_killed_outright_takes_the_ui_with_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    env.update({"CI": "true", "_ML_UI_TEST_TAG": tmp_path.name})
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mltrack", "ui", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=150, proc=proc)
    finally:
        proc.kill()  # SIGKILL `ml ui` alone: no handler of its own runs
        proc.wait(timeout=10)
    # The UI runs in a session of its own; its keeper ends it when `ml ui` is gone.
    deadline = time.monotonic() + 3
    while processes_with_env("_ML_UI_TEST_TAG", tmp_path.name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with_env("_ML_UI_TEST_TAG", tmp_path.name) == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=2)
