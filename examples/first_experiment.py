"""Your first experiment: a tracked training function, a small sweep, the best run.

Predict disease progression (scikit-learn's diabetes data) with ridge regression. The
`@mltrack.track` decorator turns every call into an MLflow run; nothing else in the
training code knows about tracking.
"""

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_absolute_error, root_mean_squared_error
from sklearn.model_selection import train_test_split

import mltrack

# 1. Data: small, shipped with scikit-learn, split once with a fixed seed.
X, y = load_diabetes(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=42)


# 2. A training function: arguments are hyperparameters, the returned dict is metrics.
@mltrack.track
def train_ridge(alpha: float = 1.0, fit_intercept: bool = True) -> dict[str, float]:
    model = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X_train, y_train)
    predictions = model.predict(X_test)
    return {
        "rmse": root_mean_squared_error(y_test, predictions),
        "mae": mean_absolute_error(y_test, predictions),
    }


# 3. A sweep: one run per call.
for alpha in (0.01, 0.1, 1.0, 10.0):
    scores = train_ridge(alpha=alpha)
    print(f"alpha={alpha:<5} rmse={scores['rmse']:.2f}")

# 4. Look at what was recorded, with plain Python objects.
run = mltrack.get_last_run()
print(f"\nlast run: {run.name} ({run.status}, {run.duration_s:.2f} s)")
print("params:", run.params)
print("metrics:", {k: round(v, 2) for k, v in sorted(run.metrics.items())})
print("tags:", sorted(k for k in run.tags if k.startswith("mltrack.")))

# 5. Rank the sweep: which alpha was best, and how much does alpha matter?
ranking = mltrack.compare_runs(run.experiment_id, metric="rmse")
best = ranking.best
print(f"\nbest of {ranking.n_runs} runs: alpha={best.params['alpha']} rmse={best.value:.2f}")

# --- checks ---
import mlflow  # noqa: E402

runs = mlflow.search_runs(
    filter_string="attributes.run_name = 'train_ridge'", max_results=4, output_format="list"
)
assert len(runs) == 4 and ranking.n_runs >= 4, (len(runs), ranking.n_runs)
assert {r.data.params["alpha"] for r in runs} == {"0.01", "0.1", "1.0", "10.0"}
assert all({"rmse", "mae"} <= set(r.data.metrics) for r in runs)
lowest = min(runs, key=lambda r: r.data.metrics["rmse"])
assert best.params["alpha"] == lowest.data.params["alpha"], "the best run has the lowest rmse"
assert run.status == "FINISHED" and run.params["alpha"] == "10.0"
