"""Keras 3: autologged `fit`, then save the model with the keras flavor.

Needs the `keras` extra (`uv add "mltrack[keras,torch]"`): Keras 3 here runs on the
PyTorch backend (`KERAS_BACKEND=torch`), so no TensorFlow is needed;
`integration_keras_tensorflow.py` runs the same model on TensorFlow. Without Keras or the
backend the script says so and exits cleanly. mltrack turns on MLflow's Keras autologging because the script
imported Keras, and `mltrack.save` detects the Keras model.
"""

import importlib.util
import os
import sys

# Keras reads its backend once, at import: choose it before `import keras`.
os.environ.setdefault("KERAS_BACKEND", "torch")
# Keras imports TensorFlow when it is installed (for its data utilities): keep its
# start-up log lines (timestamps, CPU notes) out of the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
backend = os.environ["KERAS_BACKEND"]
missing = [name for name in ("keras", backend) if importlib.util.find_spec(name) is None]
if missing:
    print(f"{' and '.join(missing)} not installed: skipping this example.")
    print(f'Install the extras to run it: uv add "mltrack[keras,{backend}]"')
    sys.exit(0)

import keras  # noqa: E402 - imported only when installed
import numpy as np  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402

import mltrack  # noqa: E402

keras.utils.set_random_seed(0)
X, y = load_iris(return_X_y=True)
X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype("float32")

with mltrack.run("keras-iris", params={"units": 16}) as run:
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
    history = model.fit(X, y, epochs=20, batch_size=32, verbose=0)
    version = mltrack.save(model, "iris-keras", input_example=X[:3], quiet=True)

print("backend:", keras.backend.backend())
print(
    "accuracy, mean of the last 3 epochs:",
    round(float(np.mean(history.history["accuracy"][-3:])), 3),
)
print("saved", version, "flavor:", version.flavor)
print("autologged metrics:", sorted(mltrack.get_run(run.id).metrics))

# --- checks ---
import mlflow  # noqa: E402

logged = mltrack.get_run(run.id).metrics
assert "accuracy" in logged and "loss" in logged, logged
history_values = mlflow.MlflowClient().get_metric_history(run.id, "accuracy")
assert len(history_values) == 20, f"one value per epoch, got {len(history_values)}"
assert np.mean(history.history["accuracy"][-3:]) > 0.8
assert version.flavor == "keras", version.flavor
