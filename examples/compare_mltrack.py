"""After: the same job with mltrack, on the same MLflow server.

``@mltrack.track`` logs the arguments as params, the returned dict as metrics, and the
git/user/Python tags; ``mltrack.save`` picks the flavor, infers the signature and
registers a version; ``mltrack.promote`` moves the alias and records who and why.
"""

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)


@mltrack.track(name="train")
def train(C: float = 1.0, max_iter: int = 200) -> dict[str, float]:
    model = LogisticRegression(C=C, max_iter=max_iter).fit(X_train, y_train)
    version = mltrack.save(model, name="iris-mltrack", input_example=X_test[:3], quiet=True)
    mltrack.promote("iris-mltrack", version.version, reason="best so far")
    print(f"registered {version} as @champion")
    return {"accuracy": model.score(X_test, y_test)}


print(train(C=0.5))

# --- checks ---
# The same facts as the plain-MLflow version, read back from the server.
import mlflow  # noqa: E402

client = mlflow.MlflowClient()
champion = client.get_model_version_by_alias("iris-mltrack", "champion")
run = client.get_run(champion.run_id)
assert run.info.run_name == "train", run.info.run_name
assert run.data.params["C"] == "0.5" and run.data.params["max_iter"] == "200", run.data.params
assert run.data.metrics["accuracy"] > 0.9, run.data.metrics
assert {"mlflow.user", "mltrack.python"} <= set(run.data.tags), run.data.tags
assert champion.tags["mltrack.promotion_reason"] == "best so far", champion.tags
