"""Build -> Ship -> Monitor in one script.

Build: train and track two candidates. Ship: save both to the registry, let
`compare_models` decide and promote the better one to `champion`. Monitor: serve the
champion with the same FastAPI app that `ml ship NAME --local` runs (here in-process,
through FastAPI's test client), send traffic, and read the Prometheus metrics.
"""
# livedocs: timeout=180

from fastapi.testclient import TestClient
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import mltrack
from mltrack.serve.app import create_app

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X = X.iloc[:, :8]  # a small model: the first eight features
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0, stratify=y)

# --- Build ------------------------------------------------------------------------------
versions = {}
for C in (0.01, 1.0):
    with mltrack.run(f"logreg-C{C}", params={"C": C}, autolog=False) as run:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=500))
        model.fit(X_train, y_train)
        run.log_metrics({"accuracy": model.score(X_test, y_test)})
        # --- Ship (1): every candidate becomes a registry version ----------------------
        versions[C] = mltrack.save(model, "cancer-clf", input_example=X_test[:3], quiet=True)
    print(f"built C={C}: accuracy={model.score(X_test, y_test):.3f} -> {versions[C]}")

# --- Ship (2): compare the two versions and promote the better one -----------------------
first, second = versions[0.01], versions[1.0]
verdict = mltrack.compare_models(str(first), str(second), metric="accuracy")
winner = second if verdict.promote else first
mltrack.promote("cancer-clf", winner.version, reason=verdict.recommendation)
print(f"\n{verdict.recommendation}: champion is now v{winner.version}")

# --- Monitor: serve the champion, send traffic, read the metrics --------------------------
app = create_app("cancer-clf", auth=False)  # NAME means models:/NAME@champion
with TestClient(app) as api:
    rows = X_test.head(20).to_dict("records")
    for i in range(0, 20, 5):
        response = api.post("/predict", json={"records": rows[i : i + 5]})
        print("predictions:", response.json()["predictions"])
    print("bad request ->", api.post("/predict", json={"records": [{"x": 1}]}).status_code)
    lines = api.get("/metrics").text.splitlines()
print(
    *[line for line in lines if line.startswith(("mltrack_requests_total", "mltrack_model_"))],
    sep="\n",
)

# --- checks ---
import mlflow  # noqa: E402

client = mlflow.MlflowClient()
champion = client.get_model_version_by_alias("cancer-clf", "champion")
assert str(champion.version) == str(winner.version), (champion.version, winner.version)
assert champion.tags["mltrack.promotion_reason"] == verdict.recommendation
scores = {
    C: client.get_run(client.get_model_version("cancer-clf", str(v.version)).run_id).data.metrics
    for C, v in versions.items()
}
best = max(scores, key=lambda C: scores[C]["accuracy"])
assert versions[best].version == winner.version or scores[0.01] == scores[1.0], scores
assert response.status_code == 200 and len(response.json()["predictions"]) == 5
served = [line for line in lines if line.startswith("mltrack_requests_total")]
assert any('status="200"' in line and line.split()[-1] in ("4", "4.0") for line in served), served
assert any('status="422"' in line or 'status="400"' in line for line in served), served
