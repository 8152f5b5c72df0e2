"""When the tracking server is down, training goes on and nothing is lost.

The example points mltrack at a port where no server runs and trains: the run, its
params and its metrics go to the on-disk spool, and one line on stderr says so. Then it
starts a server there: reading the run back sends the spool first (the training process
would also send it by itself within ``logging.retry_interval_s``; ``ml sync`` sends it
from any other process).
"""
# livedocs: snapshot_mask=(?<=spool/)([0-9a-f]{12}|<id>)

import os

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


print("training result:", train())
spooled = get_logger(url).spool.pending_values()
print("values waiting in the spool:", spooled)

server = start_server(port=port)
try:
    run = mltrack.get_last_run("offline-demo")  # the server answers: the spool goes first
    losses = mlflow.MlflowClient(url).get_metric_history(run.id, "loss")
    waiting = get_logger(url).spool.pending_values()
    metrics = {k: round(v, 4) for k, v in run.metrics.items()}
    print("run on the server:", run.name, run.status, run.params, metrics)
    print("loss values:", len(losses))
    print("values waiting in the spool:", waiting)
finally:
    server.stop()

# --- checks ---
assert spooled == 32, f"1 param, 30 losses and 1 accuracy were spooled, not {spooled}"
assert run.status == "FINISHED" and run.params == {"epochs": "30"}, run
assert run.metrics == {"loss": 1 / 30, "accuracy": 0.91}, run.metrics
assert len(losses) == 30, f"every loss value arrived once, not {len(losses)}"
assert waiting == 0, f"the spool is empty after the replay, not {waiting}"
