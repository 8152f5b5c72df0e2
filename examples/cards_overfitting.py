"""What the card's insights catch: an unbounded tree that memorises its training data.

When a run logs the same metric for training and held-out data (`train_*` and `val_*`),
the card compares them; parameters such as `max_depth=None` are read too. The findings
and the recommendations they lead to are also available as data.
"""

from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier

import mltrack

X, y = make_classification(n_samples=300, n_features=10, flip_y=0.15, random_state=3)
X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)

with mltrack.run(
    "deep-tree", params={"max_depth": None, "criterion": "gini"}, autolog=False
) as run:
    tree = DecisionTreeClassifier(max_depth=None, random_state=0).fit(X_train, y_train)
    run.log_metrics(
        {"train_accuracy": tree.score(X_train, y_train), "val_accuracy": tree.score(X_val, y_val)}
    )

card = mltrack.model_card(run.id)  # a run id works too (here no model was logged)
print("Insights:")
for note in card.data["insights"]:
    print(" -", note)
print("Recommendations:")
for todo in card.data["recommendations"]:
    print(" -", todo)

# --- checks ---
import mlflow  # noqa: E402

metrics = mlflow.MlflowClient().get_run(run.id).data.metrics
assert metrics["train_accuracy"] == 1.0, "an unbounded tree memorises its training data"
assert metrics["val_accuracy"] < 0.9, metrics
insights = " ".join(card.data["insights"]).lower()
assert "overfit" in insights or "gap" in insights, card.data["insights"]
assert "max_depth" in " ".join(card.data["recommendations"]), card.data["recommendations"]
