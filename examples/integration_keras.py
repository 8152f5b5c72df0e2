"""TensorFlow / Keras: autologged `fit`, then register the logged model.

Needs the `tensorflow` extra (`uv add "mltrack[tensorflow]"`); without it the script says
so and exits cleanly. mltrack turns on MLflow's TensorFlow autologging because the script
imported TensorFlow; `mltrack.save` does not detect Keras models, so the model is logged
with MLflow's own flavor and its URI is registered with `mltrack.save`.
"""

import importlib.util
import sys

if importlib.util.find_spec("tensorflow") is None:
    print("tensorflow is not installed: skipping this example.")
    print('Install the extra to run it: uv add "mltrack[tensorflow]"')
    sys.exit(0)

import mlflow
import numpy as np
import tensorflow as tf
from sklearn.datasets import load_iris

import mltrack

tf.keras.utils.set_random_seed(0)
X, y = load_iris(return_X_y=True)
X = X.astype("float32")

with mltrack.run("keras-iris", params={"units": 16, "epochs": 20}) as run:
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=(4,)),
            tf.keras.layers.Dense(16, activation="relu"),
            tf.keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(X, y, epochs=20, batch_size=32, verbose=0)
    info = mlflow.tensorflow.log_model(model, name="model", input_example=X[:3])
    version = mltrack.save(info.model_uri, "iris-keras", quiet=True)

print("final accuracy:", round(float(np.mean(history.history["accuracy"][-3:])), 3))
print("registered:", version)
print("autologged metrics:", sorted(mltrack.get_run(run.id).metrics))
