"""LightGBM: autologged boosting rounds, what autologging recorded, lightgbm flavor.

Needs the `lightgbm` extra (`uv add "mltrack[lightgbm]"`); without it the script says so
and exits cleanly. mltrack turns on MLflow's LightGBM autologging because the script
imported LightGBM. `mltrack.save` does not detect LightGBM models, so the script logs the
booster with `mlflow.lightgbm.log_model` and registers its URI with `mltrack.save`.
The script prints, as Markdown, what autologging recorded on the run, read back from the
tracking server.
"""

import importlib.util
import logging
import sys

if importlib.util.find_spec("lightgbm") is None:
    print("lightgbm is not installed: skipping this example.")
    print('Install the extra to run it: uv add "mltrack[lightgbm]"')
    sys.exit(0)

import lightgbm as lgb
import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import mltrack

# A uv environment has no pip: MLflow would warn, at log_model, that it cannot pin pip.
logging.getLogger("mlflow.utils.environment").setLevel(logging.ERROR)

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)
params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.1, "verbose": -1}

with mltrack.run("cancer-lightgbm") as run:
    train_set = lgb.Dataset(X_train, y_train)
    valid_set = lgb.Dataset(X_test, y_test, reference=train_set)
    booster = lgb.train(
        {**params, "metric": "binary_logloss", "seed": 0, "deterministic": True},
        train_set,
        num_boost_round=40,
        valid_sets=[valid_set],
        valid_names=["test"],
    )
    accuracy = float(((booster.predict(X_test) > 0.5) == y_test).mean())
    mltrack.log_metrics({"test_accuracy": accuracy})
    info = mlflow.lightgbm.log_model(booster, name="model", input_example=X_test[:3])
    version = mltrack.save(info.model_uri, "cancer-lightgbm", quiet=True)


def autolog_table(run_id: str) -> str:
    """The run's params, metrics and artifacts, read back from the server, as Markdown."""
    client = mlflow.MlflowClient()
    data = client.get_run(run_id).data
    params = {k: " ".join(v.split()) for k, v in data.params.items()}  # one line each
    unset = sorted(k for k, v in params.items() if v == "None")
    rows = [f"| param | `{k}` | `{v}` |" for k, v in sorted(params.items()) if v != "None"]
    if unset:
        rows.append(f"| param | {len(unset)} more, all `None` | {', '.join(unset)} |")
    for key, value in sorted(data.metrics.items()):
        steps = len(client.get_metric_history(run_id, key))
        last_of = f" (last of {steps})" if steps > 1 else ""
        rows.append(f"| metric | `{key}` | {value:.3f}{last_of} |")
    rows += [f"| artifact | `{a.path}` | |" for a in client.list_artifacts(run_id)]
    return "\n".join(["| Recorded | Name | Value |", "| --- | --- | --- |", *rows])


print(
    f"LightGBM {lgb.__version__}: test accuracy **{accuracy:.3f}**; "
    f"registered `{version}` (flavor `lightgbm`).\n"
)
print(autolog_table(run.id))

# --- checks ---
client = mlflow.MlflowClient()
recorded = client.get_run(run.id).data
assert "lightgbm" in mltrack.frameworks.active_autolog(), "LightGBM autologging is on"
assert {"num_leaves", "learning_rate", "num_boost_round"} <= set(recorded.params), recorded.params
assert recorded.params["num_boost_round"] == "40", recorded.params["num_boost_round"]
steps = client.get_metric_history(run.id, "test-binary_logloss")
assert len(steps) == 40, f"one logloss per boosting round, got {len(steps)}"
assert recorded.metrics["test_accuracy"] > 0.9, recorded.metrics
artifacts = {a.path for a in client.list_artifacts(run.id)}
assert any(p.startswith("feature_importance_") for p in artifacts), artifacts
latest = client.get_model_version("cancer-lightgbm", str(version.version))
assert mlflow.models.get_model_info(latest.source).flavors.get("lightgbm"), "lightgbm flavor"
reloaded = mlflow.lightgbm.load_model(latest.source)
assert (reloaded.predict(X_test[:5]) == booster.predict(X_test[:5])).all(), "the model loads"
