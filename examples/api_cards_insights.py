"""Cards and insights: a model card, a run ranking, a champion/challenger comparison.

`compare_runs` ranks an experiment's runs by a metric and says which params move it;
`compare_models` compares two runs or model versions and recommends (or not) a
promotion; `model_card` writes what a reviewer needs to know about a model.
"""

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import mltrack

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

card = mltrack.model_card(uris[-1])
stable = ("# ", "| Model", "| Registry", "| Flavor", "| Task")  # no dates or durations
print("\n".join(line for line in card.markdown.splitlines() if line.startswith(stable)))

# --- checks ---
assert ranking.n_runs == 3 and ranking.best.value == max(r.value for r in ranking.ranked)
assert comparison.primary_metric == "accuracy", comparison
assert "accuracy" in card.markdown and card.html.lstrip().lower().startswith("<!doctype html")
