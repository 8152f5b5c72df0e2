"""`ml compare`: rank an experiment's runs, or compare a model's champion and challenger.

`ml compare EXPERIMENT --metric M` ranks the runs and says which params move the
metric; `ml compare NAME` compares the versions behind the `champion` and `challenger`
aliases and recommends (or not) a promotion. Both exit with status 0 either way.
"""
# livedocs: timeout=180

import contextlib
import io
import shlex

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import mltrack
from mltrack.cli import app

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
for depth in (1, 2, 3, 5):
    params = {"max_depth": depth}
    with mltrack.run(
        f"depth={depth}", experiment="cli-compare", params=params, autolog=False
    ) as run:
        model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X_train, y_train)
        run.log_metrics({"accuracy": round(model.score(X_test, y_test), 4)})
        saved = mltrack.save(model, "cli-cancer", run=run, quiet=True)
mltrack.promote("cli-cancer", "1", to="champion")
mltrack.promote("cli-cancer", saved.version, to="challenger")


def ml(*args: str) -> str:
    """Run `ml ARGS` in this process (the app the `ml` command runs); return its output."""
    print("$ ml", shlex.join(args))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        app(list(args), prog_name="ml")
    print(buffer.getvalue())
    return buffer.getvalue()


ranking = ml("compare", "cli-compare", "--metric", "accuracy")
verdict = ml("compare", "cli-cancer", "--format", "markdown")

# --- checks ---
best = max(
    (mltrack.get_run(v.run_id) for v in mltrack.registry.list_versions("cli-cancer")),
    key=lambda r: r.metrics["accuracy"],
)
assert best.name in ranking, ranking
assert "champion" in verdict and "challenger" in verdict, verdict
