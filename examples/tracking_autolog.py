"""Framework auto-detection: scikit-learn is imported, so its MLflow autologging is on.

mltrack never imports a framework itself; it enables ``mlflow.<flavor>.autolog()`` for the
ones your code imported (sklearn, torch, tensorflow, xgboost, lightgbm, transformers).
Turn it off everywhere with ``autolog: false`` in ``.mltrack.yml`` or
``MLTRACK_AUTOLOG=false``, or for some runs only with ``autolog=False``.
"""

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

import mltrack
from mltrack.frameworks import detect_frameworks

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)


@mltrack.track
def fit_ridge(alpha: float = 1.0) -> dict[str, float]:
    model = Ridge(alpha=alpha).fit(X_train, y_train)
    return {"test_r2": model.score(X_test, y_test)}


print("frameworks detected:", detect_frameworks())
fit_ridge(alpha=0.5)
run = mltrack.get_last_run()
autologged = sorted(k for k in run.metrics if k.startswith("training_"))
print("autologged metrics:", autologged)
print("our metric: test_r2 =", round(run.metrics["test_r2"], 4))
print("model logged by autolog:", "yes" if run.model_uri else "no (autolog_log_models: false)")


# Off for one function's runs: autologging an earlier run enabled is paused, then restored.
@mltrack.track(autolog=False)
def fit_ridge_quietly(alpha: float = 1.0) -> dict[str, float]:
    model = Ridge(alpha=alpha).fit(X_train, y_train)
    return {"test_r2": model.score(X_test, y_test)}


fit_ridge_quietly(alpha=0.5)
print("with autolog=False:", sorted(mltrack.get_last_run().metrics))
fit_ridge(alpha=0.5)
print(
    "the next run autologs again:",
    any(k.startswith("training_") for k in mltrack.get_last_run().metrics),
)

# --- checks ---
import mlflow  # noqa: E402

assert "sklearn" in detect_frameworks()
runs = mlflow.search_runs(order_by=["attributes.start_time ASC"], output_format="list")
first, quiet, again = runs[-3:]
assert any(k.startswith("training_") for k in first.data.metrics), first.data.metrics
assert set(quiet.data.metrics) == {"test_r2"}, quiet.data.metrics
assert any(k.startswith("training_") for k in again.data.metrics), again.data.metrics
