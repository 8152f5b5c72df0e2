"""XGBoost: autologged boosting rounds, then save with the xgboost flavor.

Needs the `xgboost` extra (`uv add "mltrack[xgboost]"`); without it the script says so
and exits cleanly.
"""

import importlib.util
import sys

if importlib.util.find_spec("xgboost") is None:
    print("xgboost is not installed: skipping this example.")
    print('Install the extra to run it: uv add "mltrack[xgboost]"')
    sys.exit(0)

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
    print("saved", version, "flavor:", version.flavor)
    return {"test_accuracy": model.score(X_test, y_test)}


print(train())
run = mltrack.get_last_run()
print("metrics:", sorted(run.metrics)[:8])

# --- checks ---
import mlflow  # noqa: E402

assert run.metrics["test_accuracy"] > 0.9, run.metrics
assert any(k.startswith("validation_0") for k in run.metrics), "boosting rounds autologged"
history = mlflow.MlflowClient().get_metric_history(run.id, "validation_0-logloss")
assert len(history) == 50, f"one value per boosting round, got {len(history)}"
(latest,) = mlflow.MlflowClient().get_registered_model("cancer-xgb").latest_versions
assert mlflow.models.get_model_info(latest.source).flavors.get("xgboost"), "xgboost flavor"
