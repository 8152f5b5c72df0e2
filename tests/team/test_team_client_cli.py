"""What a team member sees from the `ml` CLI against a server with basic auth.

A real ``ml server --auth`` (sqlite backend, nobody may read by default) with real users.
The commands run in-process through the CLI's entry point and error boundary (a process
each would spend its time importing MLflow); the first error and ``--debug`` run as a
person runs them, in processes of their own, where nothing else may reach stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from mltrack.errors import TrackingServerError
from mltrack.teamserver import check_server, grant_permission
from tests._helpers import closed_port, files_containing, ml_in_process

ML = [sys.executable, "-m", "mltrack"]
CLIENT_ONLY = ("MLFLOW_", "MLTRACK_")


def _ml(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `ml` in-process with only this client environment (no inherited MLflow/mltrack
    settings)."""
    return ml_in_process(*args, env=env, cwd=cwd, drop_env=CLIENT_ONLY)


def _ml_process(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The same in a process of its own, through the installed entry point."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(CLIENT_ONLY)}
    return subprocess.run(
        [*ML, *args],
        env={**base, "NO_COLOR": "1", "COLUMNS": "300", **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """Assert the CLI failed as a user error: exit 2, one line on stderr, no traceback."""
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


@pytest.fixture()
def alice_experiment(auth_team: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An experiment of alice's with one finished run: (experiment name, run name)."""
    from mlflow import MlflowClient

    for key, value in auth_team.env("alice").items():
        monkeypatch.setenv(key, value)
    client = MlflowClient(auth_team.url)
    name = f"alice-private-{uuid.uuid4().hex[:6]}"
    experiment_id = client.create_experiment(name)
    run = client.create_run(experiment_id, run_name="alice-train")
    client.log_metric(run.info.run_id, "acc", 0.91)
    client.set_terminated(run.info.run_id)
    return name, "alice-train"


def test_ml_runs_without_permission_is_one_line_naming_the_403(
    auth_team: Any, alice_experiment: tuple[str, str], tmp_path: Path
) -> None:
    experiment, run_name = alice_experiment
    bob = auth_team.env("bob")

    line = _one_line_error(_ml_process(bob, "runs", "-e", experiment, cwd=tmp_path))
    assert "403" in line and "'bob'" in line and "permission" in line
    assert "`ml runs`" in line and auth_team.url in line
    assert auth_team.passwords["bob"] not in line

    # --debug shows the traceback first (for bug reports), then the same line and status.
    debug = _ml_process(bob, "--debug", "runs", "-e", experiment, cwd=tmp_path)
    assert debug.returncode == 2 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "403" in debug.stderr and auth_team.passwords["bob"] not in debug.stderr

    # Once alice grants READ, the same command lists her run.
    grant_permission(
        auth_team.url, "alice", auth_team.passwords["alice"], "bob", experiment, "READ"
    )
    ok = _ml(bob, "runs", "-e", experiment, "--format", "json", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert run_name in ok.stdout and '"acc": 0.91' in ok.stdout


def test_wrong_password_is_one_line_without_the_password(
    auth_team: Any, alice_experiment: tuple[str, str], tmp_path: Path
) -> None:
    experiment, _ = alice_experiment
    wrong = "wrong-" + uuid.uuid4().hex
    env = auth_team.env("bob", wrong)

    line = _one_line_error(_ml(env, "runs", "-e", experiment, cwd=tmp_path))
    assert "401" in line and "rejected the credentials of user 'bob'" in line
    assert wrong not in line

    # A registry command takes the same path through the CLI's error boundary.
    line = _one_line_error(_ml(env, "promote", "some-model", "1", cwd=tmp_path))
    assert "401" in line and wrong not in line

    anonymous = _one_line_error(_ml(auth_team.env(None), "runs", cwd=tmp_path))
    assert "requires authentication (401)" in anonymous and "MLFLOW_TRACKING_USERNAME" in anonymous


def test_registered_model_without_permission_names_the_models_owner(
    auth_team: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    for key, value in auth_team.env("alice").items():
        monkeypatch.setenv(key, value)
    model = f"alice-model-{uuid.uuid4().hex[:6]}"
    MlflowClient(auth_team.url).create_registered_model(model)

    line = _one_line_error(_ml(auth_team.env("bob"), "models", model, cwd=tmp_path))
    assert "403" in line and "'bob'" in line and "registered model's owner" in line
    assert "experiment" not in line and "--model" in line
    assert auth_team.passwords["bob"] not in line

    # The owner grants READ on the model with the command the message names.
    granted = _ml(
        auth_team.env("alice"), "server", "grant", "bob", model, "READ", "--model", cwd=tmp_path
    )
    assert granted.returncode == 0, granted.stdout + granted.stderr
    assert f"granted READ on registered model {model!r} to 'bob'" in granted.stdout
    listed = _ml(auth_team.env("bob"), "models", model, cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr

    # A model that does not exist is a one-line error, not a silent grant.
    missing = _one_line_error(
        _ml(
            auth_team.env("alice"),
            "server",
            "grant",
            "bob",
            model + "-nope",
            "READ",
            "--model",
            cwd=tmp_path,
        )
    )
    assert "nope" in missing


def test_unreachable_server_is_one_line_with_the_uri_redacted(tmp_path: Path) -> None:
    secret = "pw-" + uuid.uuid4().hex
    # No retry setting: the CLI's own default reports a dead server in seconds, where
    # MLflow's would back off for minutes (the run is bounded by the helper's timeout).
    with closed_port() as port:
        env = {"MLFLOW_TRACKING_URI": f"http://bob:{secret}@127.0.0.1:{port}"}
        started = time.monotonic()
        line = _one_line_error(_ml(env, "runs", cwd=tmp_path))
    assert time.monotonic() - started < 120, "a dead server took minutes to report"
    assert "cannot reach the tracking server" in line and "connection refused" in line
    assert "bob:***@127.0.0.1" in line and secret not in line


def test_server_check_of_a_dead_server_says_why_in_words() -> None:
    """``ml server --check``: "connection refused", not urllib's "[Errno 111] ..."."""
    with closed_port() as port, pytest.raises(TrackingServerError) as caught:
        check_server(f"http://127.0.0.1:{port}", timeout=10)
    assert str(caught.value) == (
        f"http://127.0.0.1:{port} is unreachable (connection refused); is the server running"
        " and the URL right?"
    )


def _doctor_auth_line(done: subprocess.CompletedProcess[str]) -> str:
    (line,) = [row for row in done.stdout.splitlines() if row.startswith("│ auth ")]
    return line


def test_doctor_asks_the_server_who_the_credentials_are(auth_team: Any, tmp_path: Path) -> None:
    alice = _ml(auth_team.env("alice"), "doctor", cwd=tmp_path)
    line = _doctor_auth_line(alice)
    assert "ok" in line and "signed in as 'alice' (user)" in line, alice.stdout

    wrong = "wrong-" + uuid.uuid4().hex
    refused = _ml(auth_team.env("alice", wrong), "doctor", cwd=tmp_path)
    line = _doctor_auth_line(refused)
    assert "FAIL" in line and "401" in line and "rejected the credentials of user 'alice'" in line
    assert refused.returncode == 1 and "check(s) failed: auth" in refused.stdout
    assert wrong not in refused.stdout + refused.stderr

    nobody = _ml(auth_team.env(None), "doctor", cwd=tmp_path)
    assert "requires authentication (401)" in _doctor_auth_line(nobody)

    # Credentials inside the URI work for MLflow's client; doctor uses and hides them.
    password = auth_team.passwords["bob"]
    in_uri = auth_team.url.replace("http://", f"http://bob:{password}@")
    done = _ml({"MLFLOW_TRACKING_URI": in_uri}, "doctor", cwd=tmp_path)
    assert "signed in as 'bob' (user)" in _doctor_auth_line(done), done.stdout
    assert "bob:***@127.0.0.1" in done.stdout and password not in done.stdout + done.stderr


OFFLINE_SCRIPT = """
import mltrack

with mltrack.run("step"):
    mltrack.log_metric("loss", 0.5)
"""


def test_a_password_in_the_tracking_uri_stays_out_of_output_and_spool(
    auth_team: Any, tmp_path: Path
) -> None:
    """MLflow takes ``http://user:password@host``; mltrack never shows or stores that
    password: not in `ml train`'s lines, the spool on disk, nor `ml sync`'s report."""
    password = auth_team.passwords["alice"]
    (tmp_path / "offline.py").write_text(OFFLINE_SCRIPT)
    with closed_port() as port:
        dead = f"http://127.0.0.1:{port}"
        env = {"MLFLOW_TRACKING_URI": f"http://alice:{password}@127.0.0.1:{port}"}
        trained = _ml_process(env, "train", "offline.py", cwd=tmp_path)
        assert trained.returncode == 0, trained.stdout + trained.stderr
        assert "alice:***@127.0.0.1" in trained.stdout and "spooled" in trained.stdout
        (uri_file,) = (tmp_path / ".mltrack" / "spool").glob("*/uri.txt")
        assert uri_file.read_text() == dead
        synced = _ml(env, "sync", cwd=tmp_path)
    assert synced.returncode == 2
    assert f"{dead}: still unreachable (could not create run: connection refused)" in (
        synced.stdout
    )
    assert password not in trained.stdout + trained.stderr + synced.stdout + synced.stderr
    assert files_containing(tmp_path, password.encode()) == []


def test_ml_sync_replays_with_the_password_of_the_configured_uri(
    auth_team: Any, tmp_path: Path
) -> None:
    """The spool keeps the server without the password; `ml sync` signs in with the
    configured URI's (here the only credentials there are), and a spool an older mltrack
    wrote with the password in it loses it."""
    from mlflow import MlflowClient

    from mltrack.spool import Spool, SpoolBatch

    password = auth_team.passwords["alice"]
    host = auth_team.url.removeprefix("http://")
    with_password = f"http://alice:{password}@{host}"
    spool = Spool(tmp_path / ".mltrack" / "spool", with_password)
    experiment = f"synced-{uuid.uuid4().hex[:6]}"
    local_id = spool.new_local_run(
        {"experiment_name": experiment, "run_name": "offline", "start_time": 1, "tags": {}}
    )
    spool.write_batch(SpoolBatch(local_id, metrics=[("loss", 0.25, 1, 0)]))
    spool.finish_local_run(local_id, "FINISHED", 2)
    (uri_file,) = spool.dir.glob("uri.txt")
    uri_file.write_text(with_password)  # as an older mltrack left it

    synced = _ml({"MLFLOW_TRACKING_URI": with_password}, "sync", cwd=tmp_path)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert f"{auth_team.url}: sent 1 values" in synced.stdout, synced.stdout
    assert password not in synced.stdout + synced.stderr
    assert files_containing(tmp_path, password.encode()) == []
    client = MlflowClient(with_password)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert run.data.metrics == {"loss": 0.25}


def test_server_user_commands_take_an_admins_credentials_from_the_uri(
    auth_team: Any, tmp_path: Path
) -> None:
    host = auth_team.url.removeprefix("http://")
    carol = f"carol-{uuid.uuid4().hex[:6]}"
    env = {
        "MLFLOW_TRACKING_URI": f"http://admin:{auth_team.admin_password}@{host}",
        "CAROL_PASSWORD": "carol-" + uuid.uuid4().hex,
    }
    done = _ml(env, "server", "user-add", carol, "--password-env", "CAROL_PASSWORD", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"created user {carol!r} on {auth_team.url}" in done.stdout
    assert auth_team.admin_password not in done.stdout + done.stderr
