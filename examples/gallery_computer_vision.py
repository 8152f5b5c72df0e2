"""Computer vision: classify 8x8 handwritten digits, track it, save it, look at the errors.

scikit-learn's digits data set (1,797 images, shipped with the library) and an RBF
support vector machine: a complete, CPU-sized image classifier. The figure shows the
test images the model got wrong.
"""

import matplotlib.pyplot as plt
import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import classification_report
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import mltrack

digits = load_digits()
X = digits.images.reshape(len(digits.images), -1) / 16.0  # 64 pixels in [0, 1]
X_train, X_test, y_train, y_test = train_test_split(
    X, digits.target, test_size=0.25, random_state=0, stratify=digits.target
)


@mltrack.track(name="digits-svc")
def train(C: float = 5.0, gamma: float = 0.02) -> dict[str, float]:
    model = make_pipeline(StandardScaler(), SVC(C=C, gamma=gamma)).fit(X_train, y_train)
    predicted = model.predict(X_test)
    report = classification_report(y_test, predicted, output_dict=True)
    mlflow.log_text(classification_report(y_test, predicted), "classification_report.txt")
    mltrack.save(model, "digits-svc", input_example=X_test[:2].astype("float64"), quiet=True)
    train.predicted = predicted
    return {"accuracy": report["accuracy"], "macro_f1": report["macro avg"]["f1-score"]}


scores = train()
print({k: round(v, 4) for k, v in scores.items()})

wrong = np.flatnonzero(train.predicted != y_test)
print(f"{len(wrong)} of {len(y_test)} test images misclassified")
fig, axes = plt.subplots(1, min(6, len(wrong)), figsize=(7, 1.6))
for ax, index in zip(np.atleast_1d(axes), wrong, strict=False):
    ax.imshow(X_test[index].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"{y_test[index]} → {train.predicted[index]}", fontsize=9)
    ax.axis("off")
fig.suptitle("Misclassified digits (true → predicted)", fontsize=10)
fig.tight_layout()

# --- checks ---
run = mltrack.get_last_run()
assert run.name == "digits-svc" and run.metrics["accuracy"] > 0.95, run.metrics
assert run.metrics["accuracy"] == scores["accuracy"]
assert len(wrong) == round((1 - run.metrics["accuracy"]) * len(y_test)), len(wrong)
client = mlflow.MlflowClient()
assert "classification_report.txt" in {a.path for a in client.list_artifacts(run.id)}
assert client.get_registered_model("digits-svc").latest_versions, "the model was registered"
assert plt.get_fignums(), "the figure of misclassified digits is left open for the page"
