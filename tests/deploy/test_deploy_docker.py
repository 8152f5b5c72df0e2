"""Docker target: the build context parses, is pinned, and its app serves the model."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from importlib import metadata
from pathlib import Path

import httpx
import pytest
from dockerfile_parse import DockerfileParser

from mltrack._process import free_port, keeper_command, kill_group, processes_with_env
from mltrack.deploy import ship
from mltrack.localserver import wait_healthy

TOKEN = "ctx-token-1234567890"


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


def app_env(context: Path, **extra: str) -> dict[str, str]:
    """The environment the image gives its app: the context alone, no tracking server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    env.update({"PYTHONPATH": str(context), "MLTRACK_API_TOKEN": TOKEN, "PYTHONWARNINGS": "ignore"})
    return {**env, **extra}


def serve_context(
    context: Path, env: dict[str, str], log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    """Run the context's app under uvicorn, as the image's CMD does; return it once ready.

    uvicorn runs under a keeper (:func:`mltrack._process.keeper_command`) that ends it
    when this process dies, even by SIGKILL: a killed test run leaves no server behind.
    Stop it with :func:`mltrack._process.kill_group`.
    """
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            keeper_command(cmd),
            cwd=context,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, timeout=120, proc=proc, path="/ready")
    except BaseException:
        kill_group(proc)
        raise
    return proc, url


def test_app_in_the_context_imports_and_serves_the_model(
    context: Path, deploy_model, tmp_path: Path
) -> None:
    env = app_env(context)
    which = subprocess.run(
        [sys.executable, "-c", "import mltrack.serve; print(mltrack.serve.__file__)"],
        cwd=context,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(which.stdout.strip()).is_relative_to(context)  # the vendored copy is used
    proc, url = serve_context(context, env, tmp_path / "uvicorn.log")
    try:
        headers = {"Authorization": f"Bearer {TOKEN}"}
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
        kill_group(proc, grace_s=30)


#: A test run in miniature: loads this file, serves the context as the test above does,
#: and sleeps until it is SIGKILLed.
_OWNER = textwrap.dedent(
    """
    import importlib.util, sys, time
    from pathlib import Path
    spec = importlib.util.spec_from_file_location("deploy_docker", sys.argv[1])
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    context = Path(sys.argv[2])
    env = tests.app_env(context, _DEPLOY_TEST_TAG=sys.argv[3])
    proc, url = tests.serve_context(context, env, Path(sys.argv[4]))
    print(url, flush=True)
    time.sleep(300)
    """
)


def test_sigkill_of_the_owner_leaves_no_app_server(context: Path, tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, __file__, str(context), tag, str(tmp_path / "app.log")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert owner.stdout is not None
        url = owner.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), (tmp_path / "app.log").read_text()
        assert httpx.get(f"{url}/ready").status_code == 200
        assert len(processes_with_env("_DEPLOY_TEST_TAG", tag)) >= 2  # keeper, uvicorn
    finally:
        os.killpg(owner.pid, signal.SIGKILL)  # the owner alone: the app has its own group
        owner.wait()
    # The guarantee is 3 s (exit_with_parent: SIGTERM, 1 s grace, SIGKILL).
    deadline = time.monotonic() + 3
    while processes_with_env("_DEPLOY_TEST_TAG", tag) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = processes_with_env("_DEPLOY_TEST_TAG", tag)
    for pid in left:  # never leave them to the next test, even when failing
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    assert left == [], "the app server outlived the process that started it"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ready")


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
