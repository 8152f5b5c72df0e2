"""Track a block of code with ``with mltrack.run(...)``.

Metrics logged in a loop go through mltrack's buffered logger: ``log_metric`` returns
immediately and the values are sent in batches. Without ``step`` each key counts its own
steps 0, 1, 2, …
"""

import math

import mltrack

with mltrack.run("warmup-schedule", params={"base_lr": 0.1, "warmup": 5}) as run:
    for step in range(20):
        lr = 0.1 * min(1.0, (step + 1) / 5) * math.cos(step / 40 * math.pi)
        mltrack.log_metric("lr", lr)
    run.log_metrics({"final_lr": lr})
    run.set_tags({"stage": "demo"})

info = mltrack.get_run(run.id)
print(f"{info.name}: {info.status} in {info.duration_s:.2f}s")
print("params:", info.params)
print("final_lr:", round(info.metrics["final_lr"], 5))
print("stage tag:", info.tags["stage"])

# --- checks ---
import mlflow  # noqa: E402

history = mlflow.MlflowClient().get_metric_history(run.id, "lr")
assert [m.step for m in history] == list(range(20)), "each key counts its own steps 0, 1, 2…"
assert info.status == "FINISHED" and info.params == {"base_lr": "0.1", "warmup": "5"}
assert info.metrics["final_lr"] == lr and info.tags["stage"] == "demo"
