"""Access control on the PostgreSQL-backed team server (MLflow basic-auth, real users)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import mltrack
from mltrack.errors import AccessDeniedError, TrackingServerError
from mltrack.teamserver import check_server, create_user, grant_permission
from tests._helpers import ml_in_process

pytestmark = pytest.mark.postgres

ADMIN = "admin"


def _reset_clients() -> None:
    """Each person is a new process in real life: drop mltrack's per-URI logger."""
    import mltrack.logging as mlog

    for logger in list(mlog._loggers.values()):
        logger.close(timeout=5)
    mlog._loggers.clear()


@pytest.fixture()
def people(pg_team: Any, as_user) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Two fresh users with random passwords (created by the admin)."""
    suffix = uuid.uuid4().hex[:6]
    users = {f"alice-{suffix}": uuid.uuid4().hex, f"bob-{suffix}": uuid.uuid4().hex}
    for name, password in users.items():
        create_user(pg_team.url, name, password, ADMIN, pg_team.admin_password)
    yield users
    _reset_clients()


def test_user_cannot_read_or_write_another_users_experiment(
    pg_team: Any, people: dict[str, str], as_user
) -> None:  # type: ignore[no-untyped-def]
    alice, bob = list(people)
    experiment = f"alice-private-{uuid.uuid4().hex[:6]}"

    as_user(pg_team.url, alice, people[alice])
    with mltrack.run("alice-train", experiment=experiment, log_git=False, autolog=False) as run:
        mltrack.log_metric("acc", 0.91)
    assert mltrack.get_run(run.id).metrics["acc"] == pytest.approx(0.91)
    _reset_clients()

    as_user(pg_team.url, bob, people[bob])
    with pytest.raises(AccessDeniedError) as read_err:
        mltrack.get_run(run.id)
    message = str(read_err.value)
    assert "403" in message and bob in message and "permission" in message.lower()
    assert people[bob] not in message and "\n" not in message

    with (
        pytest.raises(AccessDeniedError) as write_err,
        mltrack.run("bob-sneaks-in", experiment=experiment, log_git=False, autolog=False),
    ):
        pass
    assert experiment in str(write_err.value) and "403" in str(write_err.value)

    # After the owner grants READ, bob can read the run, but still not write to it.
    _reset_clients()
    grant_permission(pg_team.url, alice, people[alice], bob, experiment, "READ")
    as_user(pg_team.url, bob, people[bob])
    assert mltrack.get_run(run.id).metrics["acc"] == pytest.approx(0.91)
    with (
        pytest.raises(AccessDeniedError),
        mltrack.run("bob-still-cannot-write", experiment=experiment, log_git=False),
    ):
        pass


def test_wrong_password_is_a_clear_error(pg_team: Any, people: dict[str, str], as_user) -> None:  # type: ignore[no-untyped-def]
    alice = next(iter(people))
    wrong = "not-" + people[alice]
    as_user(pg_team.url, alice, wrong)
    with (
        pytest.raises(AccessDeniedError) as err,
        mltrack.run("nope", experiment="whatever", log_git=False, autolog=False),
    ):
        pass
    assert "401" in str(err.value) and wrong not in str(err.value)

    with pytest.raises(TrackingServerError, match="rejected the credentials"):
        check_server(pg_team.url, alice, wrong)


def _server_check(url: str, user: str, password: str, process: bool = False) -> tuple[int, str]:
    """``ml server --check URL`` as ``user``: exit status and everything it printed.

    In-process through the CLI's entry point, or with ``process`` as a person runs it (where
    nothing but the command's own lines reaches its output).
    """
    creds = {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}
    if not process:
        done = ml_in_process("server", "--check", url, env=creds)
        return done.returncode, done.stdout + done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", "server", "--check", url],
        env={**os.environ, **creds, "NO_COLOR": "1", "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout + done.stderr


def test_cli_check_wrong_password_exits_2_without_traceback_or_secret(
    pg_team: Any, people: dict[str, str]
) -> None:
    alice = next(iter(people))
    wrong = "wrong-" + uuid.uuid4().hex
    returncode, output = _server_check(pg_team.url, alice, wrong, process=True)
    assert returncode == 2, output
    assert "Traceback" not in output
    assert "rejected the credentials" in output and alice in output
    assert wrong not in output

    returncode, output = _server_check(pg_team.url, alice, people[alice])
    assert returncode == 0, output
    assert "round trip" in output and f"signed in as '{alice}'" in output
    assert people[alice] not in output


def test_artifacts_are_proxied_to_the_servers_artifact_root(
    pg_team: Any, people: dict[str, str], as_user, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import mlflow
    import requests
    from mlflow.exceptions import MlflowException
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from mltrack.cli._app import server_error_message

    alice, bob = list(people)
    content = f"weights of {uuid.uuid4().hex}\n"
    as_user(pg_team.url, alice, people[alice])
    with mltrack.run(
        "alice-artifacts", experiment=f"alice-art-{uuid.uuid4().hex[:6]}", log_git=False
    ) as run:
        mlflow.log_text(content, "model/notes.txt")
    artifact_uri = mlflow.get_run(run.id).info.artifact_uri
    # Proxied: the client only knows the server, not where the files are kept.
    assert artifact_uri.startswith("mlflow-artifacts:/")
    root = Path(pg_team.server.config.artifacts_location)
    (stored,) = root.glob(f"*/{run.id}/artifacts/model/notes.txt")
    assert stored.read_text() == content
    back = mlflow.artifacts.download_artifacts(
        run_id=run.id, artifact_path="model/notes.txt", dst_path=str(tmp_path / "alice")
    )
    assert Path(back).read_text() == content
    _reset_clients()

    as_user(pg_team.url, bob, people[bob])
    sneaky = tmp_path / "sneaky.txt"
    sneaky.write_text("overwritten")
    failures: list[BaseException] = []
    for attempt in (
        # By run id: MLflow asks for the run first (403 from the tracking API).
        lambda: mlflow.artifacts.download_artifacts(
            run_id=run.id, artifact_path="model/notes.txt", dst_path=str(tmp_path / "bob1")
        ),
        # Straight at the artifact proxy with the URI: 403 from the artifact API.
        lambda: mlflow.artifacts.download_artifacts(
            artifact_uri=f"{artifact_uri}/model/notes.txt", dst_path=str(tmp_path / "bob2")
        ),
        # Uploading into alice's run straight through the proxy (an HTTP PUT).
        lambda: get_artifact_repository(artifact_uri).log_artifact(str(sneaky), "model"),
    ):
        with pytest.raises((MlflowException, requests.HTTPError)) as denied:
            attempt()
        failures.append(denied.value)
    for failure in failures:
        # What `ml` prints for it: one line naming the user and the 403, no password.
        message = server_error_message(failure)
        assert message is not None, repr(failure)
        assert "403" in message and f"user {bob!r}" in message and "permission" in message
        assert "\n" not in message and people[bob] not in message
    assert f"{run.id}/artifacts/model/notes.txt" in str(server_error_message(failures[1]))
    assert f"{run.id}/artifacts/model/sneaky.txt" in str(server_error_message(failures[2]))
    assert stored.read_text() == content  # bob's upload never landed
    assert not list(root.glob("**/sneaky.txt"))
    assert not list(tmp_path.glob("bob*/**/notes.txt"))


def test_cli_check_as_a_read_only_user_fails_the_round_trip_with_the_403(
    pg_team: Any, people: dict[str, str], as_user
) -> None:  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    bob = list(people)[1]
    # The check writes into "mltrack-server-check-<user>"; here the admin owns it and bob
    # may only read it.
    as_user(pg_team.url, ADMIN, pg_team.admin_password)
    MlflowClient().create_experiment(f"mltrack-server-check-{bob}")
    grant_permission(
        pg_team.url, ADMIN, pg_team.admin_password, bob, f"mltrack-server-check-{bob}", "READ"
    )
    returncode, output = _server_check(pg_team.url, bob, people[bob])
    assert returncode == 1, output
    assert "Traceback" not in output and people[bob] not in output
    assert f"signed in as {bob!r} (user)" in output
    (round_trip,) = [line for line in output.splitlines() if "round trip" in line]
    assert "FAIL" in round_trip and "create run: permission denied (403)" in round_trip
    assert "grant EDIT" in round_trip and "server is ready" not in output
