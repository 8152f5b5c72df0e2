"""Save a trained model to the registry with one call.

`mltrack.save` picks the MLflow flavor from the object (here scikit-learn), infers the
signature from the input example, logs the model into the active run and registers a new
version. It returns the version; its string form is the registry URI.
"""

import mlflow
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

with mltrack.run("iris-logreg", params={"C": 1.0}, autolog=False) as run:
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=500))
    model.fit(X_train, y_train)
    run.log_metrics({"val_accuracy": model.score(X_test, y_test)})
    version = mltrack.save(model, name="iris-classifier", input_example=X_test[:5])

print("flavor:", version.flavor)
print("logged model:", version.model_id)

# Anyone can now load it by its registry URI.
loaded = mlflow.pyfunc.load_model(str(version))
print("signature inputs:", [c.name for c in loaded.metadata.get_input_schema().inputs])
print("predictions:", loaded.predict(X_test[:5]).tolist())

# --- checks ---
client = mlflow.MlflowClient()
stored = client.get_model_version("iris-classifier", str(version.version))
assert stored.run_id == run.id and version.flavor == "sklearn", (stored, version.flavor)
assert str(version) == f"models:/iris-classifier/{version.version}", str(version)
inputs = [c.name for c in loaded.metadata.get_input_schema().inputs]
assert inputs == list(X_test.columns), inputs
assert loaded.predict(X_test[:5]).tolist() == model.predict(X_test[:5]).tolist()
