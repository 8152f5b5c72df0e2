"""A W&B-style training script, moved to mltrack.

The W&B version would be `wandb.init(project=..., config=...)`, `wandb.log({...})` every
epoch, `run.summary[...] = ...` and `wandb.save(...)`; below, each becomes its mltrack
equivalent (the comments name the W&B call it replaces). The result is an MLflow run.
"""

import json
import math
from pathlib import Path

import mlflow

import mltrack

config = {"lr": 0.05, "epochs": 8, "batch_size": 32}

# wandb.init(project="demo", name="baseline", config=config, tags=["baseline"])
with mltrack.run("baseline", params=config, tags={"kind": "baseline"}) as run:
    for epoch in range(config["epochs"]):
        loss = math.exp(-config["lr"] * 10 * (epoch + 1))
        # wandb.log({"loss": loss, "epoch": epoch})
        run.log_metrics({"loss": loss}, step=epoch)
    # run.summary["best_loss"] = loss
    run.log_metrics({"best_loss": loss})
    # wandb.save("predictions.json")
    Path("predictions.json").write_text(json.dumps({"ids": [1, 2], "scores": [0.9, 0.2]}))
    mlflow.log_artifact("predictions.json")  # plain MLflow calls log to the run

# wandb.Api().run("demo/baseline") -> mltrack.get_run
info = mltrack.get_run(run.id)
print(info.name, info.status, info.params)
print({k: round(v, 4) for k, v in info.metrics.items()})
print("tags:", {k: v for k, v in info.tags.items() if k == "kind"})
print("artifacts:", [a.path for a in mlflow.MlflowClient().list_artifacts(run.id)])

# --- checks ---
stored = mlflow.MlflowClient().get_run(run.id)
assert stored.data.params == {"lr": "0.05", "epochs": "8", "batch_size": "32"}
assert stored.data.tags["kind"] == "baseline" and stored.info.status == "FINISHED"
losses = mlflow.MlflowClient().get_metric_history(run.id, "loss")
assert [m.step for m in losses] == list(range(8)), "one loss value per epoch"
assert stored.data.metrics["best_loss"] == losses[-1].value
assert [a.path for a in mlflow.MlflowClient().list_artifacts(run.id)] == ["predictions.json"]
