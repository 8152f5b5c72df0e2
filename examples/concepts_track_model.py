"""What `@mltrack.track` turns into params, metrics, tags and runs.

Each case prints what MLflow stored, read back with `mltrack.get_last_run`.
"""

import asyncio
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pydantic import BaseModel

import mltrack


@dataclass
class Optimizer:
    name: str = "adam"
    lr: float = 0.001


# Arguments -> params: defaults included, dataclasses/dicts flattened, arrays summarised.
@mltrack.track
def fit(data: np.ndarray, optimizer: Optimizer, layers: dict, epochs: int = 3) -> dict:
    # A returned dict -> metrics (nested dicts flattened, non-numbers ignored).
    return {"loss": 0.12, "val": {"loss": 0.2, "acc": 0.93}, "note": "not a number"}


fit(np.zeros((150, 4)), Optimizer(), {"hidden": 64, "dropout": 0.1})
run = mltrack.get_last_run()
print("params: ", run.params)
print("metrics:", run.metrics)


# Pydantic models are flattened like dataclasses; data frames summarised like arrays.
class Schedule(BaseModel):
    warmup: int = 100
    decay: float = 0.9


@mltrack.track
def tune(frame: pd.DataFrame, schedule: Schedule) -> float:
    return 0.5


tune(pd.DataFrame({"x": range(10), "y": range(10)}), Schedule())
print("\nparams: ", mltrack.get_last_run().params)


# A returned number -> the metric `result`. Options: run name, tags, no argument logging.
@mltrack.track(name="score-only", log_args=False, tags={"team": "risk"})
def score(secret_path: str) -> float:
    return 0.87


score("/data/private.csv")
run = mltrack.get_last_run()
print("\nrun name:", run.name, "| params:", run.params, "| metrics:", run.metrics)
where = ("team", "mlflow.user")
print("tags:    ", {k: v for k, v in run.tags.items() if k in where or k.startswith("mltrack.")})
# (Inside a git repository, its commit, branch, dirty flag and remote are tags too; this
# page is built outside one: see the git example in Experiment tracking.)


# An exception -> FAILED with the error's type and message as tags; it is re-raised.
# Ctrl-C (KeyboardInterrupt) -> KILLED, re-raised too.
@mltrack.track
def diverge(lr: float) -> float:
    raise ValueError(f"loss is NaN at lr={lr}")


@mltrack.track
def interrupted() -> None:
    raise KeyboardInterrupt


for call in (lambda: diverge(10.0), interrupted):
    try:
        call()
    except (ValueError, KeyboardInterrupt) as exc:
        ended = mltrack.get_last_run()
        errors = {k: v for k, v in ended.tags.items() if k.startswith("mltrack.error")}
        print(f"\n{ended.name}: {ended.status}, re-raised {type(exc).__name__}; tags {errors}")


# A tracked function called inside another one -> a child run.
@mltrack.track
def trial(seed: int) -> float:
    return 0.8 + seed / 100


@mltrack.track
def sweep() -> dict:
    return {"best": max(trial(seed) for seed in range(3))}


sweep()
parent = mltrack.get_last_run()
children = mltrack.get_last_run(include_nested=True)
print("\nlast top-level run:", parent.name, parent.metrics)
print(
    "last run including nested:", children.name, "child of", children.tags["mlflow.parentRunId"][:8]
)


# async functions work the same way.
@mltrack.track
async def evaluate(batch_size: int = 32) -> dict:
    await asyncio.sleep(0.01)
    return {"latency_ms": 10.0}


asyncio.run(evaluate())
print("\nasync run:", mltrack.get_last_run().name, mltrack.get_last_run().metrics)

# --- checks ---
import mlflow  # noqa: E402

first = mlflow.search_runs(filter_string="attributes.run_name = 'fit'", output_format="list")[0]
assert first.data.params["epochs"] == "3" and first.data.params["optimizer.lr"] == "0.001"
assert first.data.params["layers.hidden"] == "64", first.data.params
assert first.data.metrics == {"loss": 0.12, "val.loss": 0.2, "val.acc": 0.93}, first.data.metrics
only = mlflow.search_runs(filter_string="attributes.run_name = 'score-only'", output_format="list")[
    0
]
assert only.data.params == {} and only.data.metrics == {"result": 0.87}
assert only.data.tags["team"] == "risk"
nested = mlflow.search_runs(
    filter_string=f"tags.mlflow.parentRunId = '{parent.id}'", output_format="list"
)
assert len(nested) == 3 and {r.data.tags["mlflow.parentRunId"] for r in nested} == {parent.id}
assert set(parent.metrics) == {"best"} and abs(parent.metrics["best"] - 0.82) < 1e-9
assert mltrack.get_last_run().metrics == {"latency_ms": 10.0}
tuned = mlflow.search_runs(filter_string="attributes.run_name = 'tune'", output_format="list")[0]
assert tuned.data.params == {
    "frame": "<DataFrame shape=(10, 2)>",
    "schedule.warmup": "100",
    "schedule.decay": "0.9",
}, tuned.data.params
assert only.data.tags["mlflow.user"] and only.data.tags["mltrack.python"]
failed = mlflow.search_runs(filter_string="attributes.run_name = 'diverge'", output_format="list")
assert failed[0].info.status == "FAILED", failed[0].info
assert failed[0].data.tags["mltrack.error.type"] == "ValueError"
assert failed[0].data.tags["mltrack.error.message"] == "loss is NaN at lr=10.0"
killed = mlflow.search_runs(
    filter_string="attributes.run_name = 'interrupted'", output_format="list"
)
assert killed[0].info.status == "KILLED", killed[0].info
