"""Generate a model card for a registered model.

The card is built from what MLflow holds: the run's params and metrics, the training data
logged with `mlflow.log_input`, the logged model (flavor, signature, input example) and the
registry version. It is Markdown with a Hugging Face-compatible YAML header, or a
standalone HTML page, and can be stored in the run's artifacts.
"""

import mlflow
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split

import mltrack

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X = X.iloc[:, :8]  # a few features keep the card short
X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
params = {"n_estimators": 60, "max_depth": 2, "learning_rate": 0.1}

with mltrack.run("gbt-screening", params=params, autolog=False) as run:
    mlflow.log_input(
        mlflow.data.from_pandas(
            X_train.assign(target=y_train), name="breast-cancer", targets="target"
        ),
        context="training",
    )
    model = GradientBoostingClassifier(**params, random_state=0).fit(X_train, y_train)
    run.log_metrics(
        {
            "train_accuracy": accuracy_score(y_train, model.predict(X_train)),
            "val_accuracy": accuracy_score(y_val, model.predict(X_val)),
            "val_f1": f1_score(y_val, model.predict(X_val)),
            "val_roc_auc": roc_auc_score(y_val, model.predict_proba(X_val)[:, 1]),
        }
    )
    version = mltrack.save(model, name="screening-gbt", input_example=X_val[:2], quiet=True)

card = mltrack.model_card(version.uri)
card.save("model_card.html")  # standalone page, no external resources
print("stored in the run:", card.log_to_run())
print()
print(card.markdown)

# --- checks ---
from pathlib import Path  # noqa: E402

client = mlflow.MlflowClient()
metrics = client.get_run(run.id).data.metrics
assert {"train_accuracy", "val_accuracy", "val_f1", "val_roc_auc"} <= set(metrics), metrics
assert metrics["val_roc_auc"] > 0.9, metrics
assert f"{metrics['val_accuracy']:.4g}" in card.markdown, "the card shows the run's metrics"
assert card.markdown.startswith("---\n"), "Hugging Face YAML header"
assert client.get_model_version("screening-gbt", version.version).run_id == run.id
stored = {a.path for a in client.list_artifacts(run.id)}
assert {"model_card.md", "model_card.html"} <= stored, stored
assert Path("model_card.html").read_text().lstrip().lower().startswith("<!doctype html")
