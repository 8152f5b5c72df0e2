"""When the tracking server is down, training goes on and nothing is lost.

The example points mltrack at a port where no server runs, trains, then starts a server
there and replays the spool with ``ml sync``.
"""

import os
import subprocess
import sys
import warnings

import mlflow

import mltrack
from mltrack.localserver import free_port, start_server
from mltrack.logging import get_logger

port = free_port()
url = f"http://127.0.0.1:{port}"
os.environ["MLFLOW_TRACKING_URI"] = url
mlflow.set_tracking_uri(url)


@mltrack.track(experiment="offline-demo")
def train(epochs: int = 30) -> dict[str, float]:
    for epoch in range(epochs):
        mltrack.log_metric("loss", 1 / (epoch + 1))
    return {"accuracy": 0.91}


with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    print("training result:", train())
print("warning:", str(caught[0].message).split(";")[0].replace(url, "<server>"))
print("values waiting in the spool:", get_logger(url).spool.pending_values())

server = start_server(port=port)
try:
    # The training process replays by itself once the server answers; `ml sync` does the
    # same from any other process (whichever comes first, the data arrives once).
    sync = subprocess.run([sys.executable, "-m", "mltrack", "sync"], capture_output=True, text=True)
    mltrack.flush()
    print("ml sync exit code:", sync.returncode)
    print("values waiting in the spool:", get_logger(url).spool.pending_values())
    run = mlflow.MlflowClient(url).search_runs(
        [mlflow.get_experiment_by_name("offline-demo").experiment_id]
    )[0]
    print("run on the server:", run.info.run_name, run.info.status)
    print("loss values:", len(mlflow.MlflowClient(url).get_metric_history(run.info.run_id, "loss")))
finally:
    server.stop()
