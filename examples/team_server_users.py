"""`ml server user-add` and `ml server grant`: an admin adds a user and gives her access.

A throwaway team server with MLflow's basic-auth app (sqlite) stands in for
`tracking.internal`. The admin's credentials come from the environment, as in a shell
that loaded them from a vault. Alice gets EDIT on the team's experiment and on its
registered model (`--model`). `user-add` prompts for the new password twice in a
terminal; a script hands it over in an environment variable with `--password-env`.
Runs standalone:
``uv run python examples/team_server_users.py``.
"""
# livedocs: timeout=300

import os
import secrets
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from mlflow import MlflowClient

from mltrack.teamserver import TeamServerConfig, team_server

os.environ["MLFLOW_AUTH_ADMIN_PASSWORD"] = admin_password = secrets.token_urlsafe(16)


def ml(*args: str) -> None:
    """Run `ml ARGS` as the admin, print the command line and what it printed."""
    print("$ ml", shlex.join(args))
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", *args],
        capture_output=True,
        text=True,
        env=os.environ | {"NO_COLOR": "1"},
    )
    print((done.stdout + done.stderr).strip(), "\n")
    done.check_returncode()


with tempfile.TemporaryDirectory(prefix="team-users-") as root:
    config = TeamServerConfig(
        backend=f"sqlite:///{root}/mlflow.db",
        artifacts=f"{root}/artifacts",
        auth=True,
        port=0,
        workers=1,
        state_dir=Path(root) / "state",
    )
    with team_server(config) as server:  # stopped at the end of the block, also on error
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = admin_password
        MlflowClient().create_experiment("churn-model")  # a team experiment
        MlflowClient().create_registered_model("churn")  # and its registered model

        os.environ["ALICE_PASSWORD"] = secrets.token_urlsafe(12)  # from the vault, too
        ml("server", "user-add", "alice", "--password-env", "ALICE_PASSWORD")
        ml("server", "grant", "alice", "churn-model", "EDIT")
        ml("server", "grant", "alice", "churn", "EDIT", "--model")  # new versions, aliases

        # --- checks ---
        # Alice signs in with the password from the vault: she can write to both.
        experiment_id = MlflowClient().get_experiment_by_name("churn-model").experiment_id
        os.environ["MLFLOW_TRACKING_USERNAME"] = "alice"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = os.environ["ALICE_PASSWORD"]
        alice_run = MlflowClient().create_run(experiment_id)
        assert alice_run.info.experiment_id == experiment_id  # a 403 would have raised
        MlflowClient().set_registered_model_tag("churn", "owner", "alice")
        assert MlflowClient().get_registered_model("churn").tags["owner"] == "alice"
        os.environ["MLFLOW_TRACKING_USERNAME"] = "admin"
        os.environ["MLFLOW_TRACKING_PASSWORD"] = admin_password
