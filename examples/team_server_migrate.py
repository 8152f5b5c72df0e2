"""`ml server migrate`: back up the database, then bring its schema to this MLflow version.

Run it with the server stopped. Here the database is already current (as after any fresh
`ml server` start), so the schema step has nothing to do; after an MLflow upgrade it
lists the old and the new revision instead.
Runs standalone: ``uv run python examples/team_server_migrate.py``.
"""
# livedocs: timeout=180

import logging
import subprocess
import sys
import tempfile

import mlflow

with tempfile.TemporaryDirectory(prefix="team-migrate-") as workdir:
    # A team database as a stopped `ml server` leaves it: created by MLflow itself.
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # no table-creation chatter
    mlflow.MlflowClient(f"sqlite:///{workdir}/mlflow.db").search_experiments()

    command = ["ml", "server", "migrate", "--backend", "sqlite:///mlflow.db"]
    print("$", " ".join(command))
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", *command[1:]],
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    print(done.stdout.strip())

# --- checks ---
assert done.returncode == 0 and done.stdout.strip(), done
assert "backup" in done.stdout.lower(), "the database is backed up first"
