# livedocs: timeout=240
"""Keras 3 on TensorFlow: autologged `fit`, what autologging recorded, keras flavor.

Needs the `keras` and `tensorflow` extras (`uv add "mltrack[keras,tensorflow]"`, the
CPU-only `tensorflow-cpu` package). The model code is the same as on the PyTorch backend
(`integration_keras.py`); only `KERAS_BACKEND` differs. mltrack enables MLflow's Keras
autologging (not TensorFlow's, which would log every epoch twice), and the script prints,
as Markdown, what autologging recorded on the run, read back from the tracking server.
"""

import importlib.util
import os
import sys

# Keras reads its backend once, at import. The other two quiet TensorFlow's start-up lines
# on stderr (CPU instructions, oneDNN notice); without oneDNN's custom ops the float
# results are also the same from run to run.
os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
missing = [name for name in ("keras", "tensorflow") if importlib.util.find_spec(name) is None]
if missing:
    print(f"{' and '.join(missing)} not installed: skipping this example.")
    print('Install the extras to run it: uv add "mltrack[keras,tensorflow]"')
    sys.exit(0)

import keras  # noqa: E402 - imported only when installed
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

import mltrack  # noqa: E402

keras.utils.set_random_seed(0)
X, y = load_iris(return_X_y=True)
X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype("float32")

with mltrack.run("keras-tf-iris", params={"units": 16}) as run:
    model = keras.Sequential(
        [
            keras.Input(shape=(4,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(X, y, epochs=10, batch_size=32, verbose=0)
    version = mltrack.save(model, "iris-keras-tf", input_example=X[:3], quiet=True)


def autolog_table(run_id: str) -> str:
    """The run's params, metrics and artifacts, read back from the server, as Markdown."""
    client = mlflow.MlflowClient()
    data = client.get_run(run_id).data
    params = {k: " ".join(v.split()) for k, v in data.params.items()}  # one line each
    unset = sorted(k for k, v in params.items() if v == "None")
    rows = [f"| param | `{k}` | `{v}` |" for k, v in sorted(params.items()) if v != "None"]
    if unset:
        rows.append(f"| param | {len(unset)} more, all `None` | {', '.join(unset)} |")
    for key, value in sorted(data.metrics.items()):
        steps = len(client.get_metric_history(run_id, key))
        last_of = f" (last of {steps})" if steps > 1 else ""
        rows.append(f"| metric | `{key}` | {value:.3f}{last_of} |")
    rows += [f"| artifact | `{a.path}` | |" for a in client.list_artifacts(run_id)]
    return "\n".join(["| Recorded | Name | Value |", "| --- | --- | --- |", *rows])


print(
    f"Keras {keras.__version__} on the **{keras.backend.backend()}** backend "
    f"(TensorFlow {tf.__version__}); saved `{version}`, flavor `{version.flavor}`.\n"
)
print(autolog_table(run.id))

# --- checks ---
client = mlflow.MlflowClient()
recorded = client.get_run(run.id).data
assert keras.backend.backend() == "tensorflow", keras.backend.backend()
assert "tensorflow" in mltrack.frameworks.detect_frameworks(), "TensorFlow was imported"
assert {"epochs", "batch_size", "optimizer_learning_rate"} <= set(recorded.params), recorded.params
assert recorded.params["epochs"] == "10", recorded.params["epochs"]
assert {"accuracy", "loss"} <= set(recorded.metrics), recorded.metrics
steps = client.get_metric_history(run.id, "accuracy")
assert len(steps) == 10, f"one accuracy per epoch (Keras autologging only), got {len(steps)}"
assert recorded.metrics["accuracy"] > 0.8, recorded.metrics
assert "model_summary.txt" in {a.path for a in client.list_artifacts(run.id)}
(latest,) = client.get_registered_model("iris-keras-tf").latest_versions
info = mlflow.models.get_model_info(latest.source)
assert info.flavors["keras"]["keras_backend"] == "tensorflow", info.flavors["keras"]
reloaded = mlflow.keras.load_model(latest.source)
assert np.argmax(reloaded.predict(X[:1], verbose=0), axis=1)[0] == y[0], "the saved model loads"
