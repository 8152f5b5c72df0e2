"""`ml sync`: send what was spooled while the tracking server was down.

A training script runs while no server answers: mltrack spools its run and metrics
on disk. Once the server is up, `ml sync` (from any process) replays the spool; a second
`ml sync` has nothing left to send.
"""
# livedocs: timeout=180
# livedocs: snapshot_mask=(?<=spool/)([0-9a-f]{12}|<id>)

import os
import subprocess
import sys
from pathlib import Path

import mlflow

from mltrack.localserver import free_port, start_server

port = free_port()
url = f"http://127.0.0.1:{port}"
env = {**os.environ, "MLFLOW_TRACKING_URI": url, "MLTRACK_LOGGING__SPOOL_DIR": "spool"}
Path("train.py").write_text(
    """\
import mltrack

with mltrack.run("offline-train", experiment="cli-sync", autolog=False):
    for step in range(20):
        mltrack.log_metric("loss", 1 / (step + 1), step=step)
print("training done")
"""
)


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    shown = " ".join("python" if a == sys.executable else a for a in args)
    print("$", shown.replace("python -m mltrack", "ml"))
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    print((done.stdout + done.stderr).strip(), end="\n\n")
    return done


sh(sys.executable, "train.py")  # no server on that port yet
with start_server(port=port):
    synced = sh(sys.executable, "-m", "mltrack", "sync")
    again = sh(sys.executable, "-m", "mltrack", "sync")
    client = mlflow.MlflowClient(url)
    (run,) = client.search_runs([client.get_experiment_by_name("cli-sync").experiment_id])
    losses = client.get_metric_history(run.info.run_id, "loss")

# --- checks ---
assert synced.returncode == 0 and "sent" in synced.stdout, synced.stdout + synced.stderr
assert again.returncode == 0 and "nothing to sync" in again.stdout, again.stdout
assert len(losses) == 20 and run.info.status == "FINISHED", (len(losses), run.info.status)
