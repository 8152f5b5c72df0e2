"""Docker target: the build context parses, is pinned, and its app serves the model."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from mltrack.deploy import ship
from mltrack.localserver import free_port, wait_healthy


@pytest.fixture(scope="module")
def context(deploy_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docker-ctx")
    result = ship(deploy_model.name, to="docker", dry_run=True, output_dir=out)
    assert result.output_dir == out.resolve() and not result.deployed
    assert result.commands[0] == f"docker build -t mltrack/{deploy_model.name}:1 {out.resolve()}"
    return out


def test_dockerfile_is_multistage_non_root_with_healthcheck(context: Path) -> None:
    parser = DockerfileParser(path=str(context / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure]
    froms = [value for kind, value in instructions if kind == "FROM"]
    assert froms == ["python:3.11-slim AS builder", "python:3.11-slim AS runtime"]
    assert any(k == "COPY" and v.startswith("--from=builder /opt/venv") for k, v in instructions)
    users = [value for kind, value in instructions if kind == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    health = [value for kind, value in instructions if kind == "HEALTHCHECK"]
    assert len(health) == 1 and "/health" in health[0] and "--interval" in health[0]
    assert parser.cmd.startswith('["uvicorn", "app:app"') or "uvicorn" in parser.cmd
    assert "8080" in [value for kind, value in instructions if kind == "EXPOSE"]
    copied = " ".join(value for kind, value in instructions if kind == "COPY")
    for path in ("requirements.txt", "mltrack/", "model/", "app.py"):
        assert path in copied and (context / path).exists()


def test_requirements_are_pinned_from_the_model(context: Path) -> None:
    lines = (context / "requirements.txt").read_text().splitlines()
    assert lines and all("==" in line.split(";")[0] for line in lines), lines
    model_reqs = (context / "model" / "requirements.txt").read_text().splitlines()
    assert set(model_reqs) <= set(lines)  # the model's own pins, markers included, all kept
    assert any(
        line.startswith(f"scikit-learn=={metadata.version('scikit-learn')}") for line in lines
    )
    assert f"fastapi=={metadata.version('fastapi')}" in lines
    assert f"uvicorn=={metadata.version('uvicorn')}" in lines
    assert not any(line.startswith("mltrack") for line in lines)


def test_app_in_the_context_imports_and_serves_the_model(context: Path, deploy_model) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))
    }  # no tracking server: the model comes from the context itself
    env.update(
        {
            "PYTHONPATH": str(context),
            "MLTRACK_API_TOKEN": "ctx-token-1234567890",
            "PYTHONWARNINGS": "ignore",
        }
    )
    which = subprocess.run(
        [sys.executable, "-c", "import mltrack.serve; print(mltrack.serve.__file__)"],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(which.stdout.strip()).is_relative_to(context)  # the vendored copy is used
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=context,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, proc=proc, path="/ready")
        headers = {"Authorization": "Bearer ctx-token-1234567890"}
        response = httpx.post(
            f"{url}/predict", json={"records": deploy_model.rows}, headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["predictions"] == deploy_model.expected
        assert httpx.post(f"{url}/predict", json={"records": deploy_model.rows}).status_code == 401
        meta = httpx.get(f"{url}/metadata", headers=headers).json()
        assert (meta["name"], meta["version"], meta["alias"]) == (
            deploy_model.name,
            "1",
            "champion",
        )
        assert meta["card"].startswith("# Deploy test model")  # the run's model card, shipped
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_deploy_without_daemon_prints_the_exact_commands(deploy_model, tmp_path: Path) -> None:
    from mltrack.deploy.docker import daemon_available

    result = ship(
        f"{deploy_model.name}@champion", to="docker", output_dir=tmp_path / "ctx", image="acme/m:1"
    )
    if daemon_available():  # a real Docker here: the image was built
        assert result.deployed
        return
    assert not result.deployed
    assert result.commands == [f"docker build -t acme/m:1 {(tmp_path / 'ctx').resolve()}"]
    assert any("no Docker daemon" in note for note in result.notes)


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint is not installed")
def test_hadolint_accepts_the_dockerfile(context: Path) -> None:
    proc = subprocess.run(
        ["hadolint", "--failure-threshold", "error", str(context / "Dockerfile")],
        capture_output=True,
    )
    assert proc.returncode == 0, proc.stdout
