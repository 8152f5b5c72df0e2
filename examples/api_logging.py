"""The logging API: metrics from a training loop, buffered and sent in batches.

`log_metric` and `log_metrics` return at once; a background sender batches the values,
and `flush()` waits until everything queued has reached the server (it returns True).
`catch_up()` also replays what was spooled to disk while a server was away;
`get_logger()` is the process-wide buffered logger behind these functions.
"""

import mlflow

import mltrack
from mltrack.logging import catch_up, get_logger

with mltrack.run("loop", experiment="api-logging") as run:
    for step in range(100):
        mltrack.log_metric("loss", 1 / (step + 1), step=step)
        if step % 25 == 0:
            mltrack.log_metrics({"lr": 0.1 / (step + 1), "epoch": step // 25}, step=step)
    print("everything sent:", mltrack.flush(timeout=30))
    print("working offline:", get_logger().offline)
    print("nothing left in a spool:", catch_up(timeout=30))

history = mlflow.MlflowClient().get_metric_history(run.id, "loss")
print("loss values on the server:", len(history), "last:", history[-1].value)
print("final metrics:", {k: round(v, 4) for k, v in mltrack.get_run(run.id).metrics.items()})

# --- checks ---
assert get_logger() is get_logger(), "one logger per tracking URI"
assert catch_up(timeout=30) is True
assert len(history) == 100, f"every loss value arrived once, not {len(history)}"
assert len(mlflow.MlflowClient().get_metric_history(run.id, "lr")) == 4
assert mltrack.get_run(run.id).metrics["epoch"] == 3
