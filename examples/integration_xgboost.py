"""XGBoost: autologged boosting rounds, then save with the xgboost flavor.

Needs the `xgboost` extra (`uv add "mltrack[xgboost]"`); without it the script says so
and exits cleanly. The script prints, as Markdown, what autologging recorded on the run,
read back from the tracking server.
"""

import importlib.util
import sys

if importlib.util.find_spec("xgboost") is None:
    print("xgboost is not installed: skipping this example.")
    print('Install the extra to run it: uv add "mltrack[xgboost]"')
    sys.exit(0)

import mlflow
import xgboost as xgb
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split

import mltrack

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)


@mltrack.track
def train(max_depth: int = 3, n_estimators: int = 50) -> dict[str, float]:
    model = xgb.XGBClassifier(
        max_depth=max_depth, n_estimators=n_estimators, learning_rate=0.2, random_state=0
    )
    model.fit(X_train, y_train, eval_set=[(X_test, y_test)], verbose=False)
    version = mltrack.save(model, "cancer-xgb", input_example=X_test[:3], quiet=True)
    print(f"Saved `{version}`, flavor `{version.flavor}`.\n")
    return {"test_accuracy": model.score(X_test, y_test)}


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


train()
run = mltrack.get_last_run()
print(autolog_table(run.id))

# --- checks ---
assert run.metrics["test_accuracy"] > 0.9, run.metrics
assert any(k.startswith("validation_0") for k in run.metrics), "boosting rounds autologged"
history = mlflow.MlflowClient().get_metric_history(run.id, "validation_0-logloss")
assert len(history) == 50, f"one value per boosting round, got {len(history)}"
(latest,) = mlflow.MlflowClient().get_registered_model("cancer-xgb").latest_versions
assert mlflow.models.get_model_info(latest.source).flavors.get("xgboost"), "xgboost flavor"
recorded = mlflow.MlflowClient().get_run(run.id).data
assert recorded.params["n_estimators"] == "50" and recorded.params["learning_rate"] == "0.2"
assert "XGBClassifier_score_unknown_dataset" in recorded.metrics, recorded.metrics
artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.id)}
assert "feature_importance_weight.json" in artifacts, artifacts
