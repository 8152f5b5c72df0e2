"""Compare every run of an experiment: ranking, spread and what moves the metric.

A small grid search logs 12 runs; `compare_runs` reads them all (in pages, one request per
1000 runs), ranks them by `val_f1`, summarises the spread and estimates how strongly each
hyperparameter moves the metric (Spearman correlation for numbers, η² for categories).
"""

import os

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

import mltrack

# The docs build gives each example an experiment of its own, named after the file.
EXPERIMENT = os.environ.get("MLFLOW_EXPERIMENT_NAME", "insights_compare_runs")
X, y = load_breast_cancer(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.4, random_state=1)

for max_depth in (1, 2, 4, 8):
    for criterion in ("gini", "entropy", "log_loss"):
        params = {"max_depth": max_depth, "criterion": criterion, "n_estimators": 10}
        with mltrack.run(
            f"rf-d{max_depth}-{criterion}", experiment=EXPERIMENT, params=params, autolog=False
        ) as run:
            model = RandomForestClassifier(**params, random_state=0).fit(X_train, y_train)
            run.log_metrics({"val_f1": f1_score(y_val, model.predict(X_val))})

report = mltrack.compare_runs(EXPERIMENT, "val_f1")
print(report.to_markdown(top=5))
report.plot("val_f1.png")  # ranked values and the metric against the strongest parameter

# --- checks ---
from pathlib import Path  # noqa: E402

import mlflow  # noqa: E402

runs = mlflow.search_runs(experiment_names=[EXPERIMENT], output_format="list")
assert report.n_runs == len(runs) == 12, report.n_runs
best = max(runs, key=lambda r: r.data.metrics["val_f1"])
assert report.ranked[0].value == best.data.metrics["val_f1"], report.ranked[0]
assert [r.value for r in report.ranked] == sorted((r.value for r in report.ranked), reverse=True)
assert {e.param for e in report.param_effects} >= {"max_depth", "criterion"}
assert Path("val_f1.png").stat().st_size > 0
