"""Quick start: track a small scikit-learn model with one decorator.

Run it with ``uv run python examples/quickstart.py``. With ``MLFLOW_TRACKING_URI`` set it
logs to that server; without it, to mltrack's local store under ``.mltrack/``.
"""

import matplotlib.pyplot as plt
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import mltrack

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)


@mltrack.track
def train(C: float = 1.0, max_iter: int = 200) -> dict[str, float]:
    model = LogisticRegression(C=C, max_iter=max_iter).fit(X_train, y_train)
    return {"accuracy": model.score(X_test, y_test)}


scores = {C: train(C=C)["accuracy"] for C in (0.01, 0.1, 1.0)}
for C, accuracy in scores.items():
    print(f"C={C:<5} accuracy={accuracy:.3f}")

plt.figure(figsize=(4, 2.5))
plt.plot(list(scores), list(scores.values()), marker="o", color="#0d9488")
plt.xscale("log")
plt.xlabel("C (inverse regularisation)")
plt.ylabel("test accuracy")
plt.title("Accuracy by regularisation")
