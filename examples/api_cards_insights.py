"""Cards and insights: a model card, a run ranking, a champion/challenger comparison.

`compare_runs` ranks an experiment's runs by a metric and says which params move it;
`compare_models` compares two runs or model versions and recommends (or not) a
promotion, and `compare_aliases` does it for a registered model's champion and challenger;
`model_card` writes what a reviewer needs to know about a model, and `task_type`,
`metric_direction` and `interpret_metric` are the judgements a card is built from.
"""

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import mltrack
from mltrack.cards import interpret_metric, metric_direction, task_type
from mltrack.insights import compare_aliases

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
uris = []
for depth in (1, 2, 4):
    params = {"max_depth": depth}
    with mltrack.run(
        f"depth={depth}", experiment="api-insights", params=params, autolog=False
    ) as run:
        model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(X_train, y_train)
        run.log_metrics({"accuracy": round(model.score(X_test, y_test), 4)})
        uris.append(mltrack.save(model, "api-cancer", run=run, quiet=True).uri)

ranking = mltrack.compare_runs("api-insights", "accuracy")
print(f"best run: {ranking.best.run_name} ({ranking.best.value})")
comparison = mltrack.compare_models(uris[0], uris[-1], metric="accuracy")
print("promote the challenger:", comparison.promote, "-", comparison.recommendation)
mltrack.promote("api-cancer", "1", to="champion", reason="baseline")
mltrack.promote("api-cancer", "3", to="challenger", reason="deeper tree")
by_alias = compare_aliases("api-cancer", metric="accuracy")
print("champion vs challenger:", by_alias.promote == comparison.promote)

card = mltrack.model_card(uris[-1])
stable = ("# ", "| Model", "| Registry", "| Flavor", "| Task")  # no dates or durations
print("\n".join(line for line in card.markdown.splitlines() if line.startswith(stable)))
print("task:", task_type({"accuracy": 0.93}, "DecisionTreeClassifier"))
print(
    "higher is better: accuracy", metric_direction("accuracy"), "| rmse", metric_direction("rmse")
)
print("accuracy 0.93:", interpret_metric("accuracy", 0.93))

# --- checks ---
assert by_alias.primary_metric == "accuracy" and by_alias.promote == comparison.promote
assert (
    task_type({"rmse": 1.2}) == "regression"
    and task_type({}, "DecisionTreeClassifier") == "classification"
)
assert metric_direction("accuracy") and not metric_direction("rmse")
assert interpret_metric("accuracy", 0.93) and interpret_metric("made_up", 1.0) == ""
assert ranking.n_runs == 3 and ranking.best.value == max(r.value for r in ranking.ranked)
assert comparison.primary_metric == "accuracy", comparison
assert "accuracy" in card.markdown and card.html.lstrip().lower().startswith("<!doctype html")
