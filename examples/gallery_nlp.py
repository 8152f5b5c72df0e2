"""NLP: a TF-IDF + logistic regression sentiment classifier on a tiny inline data set.

The model is a scikit-learn pipeline that reads a `text` column, so the registered
version has a string signature and the served model accepts `{"records": [{"text": ...}]}`.
"""

import pandas as pd
from fastapi.testclient import TestClient
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import mltrack
from mltrack.serve.app import create_app

positive = [
    "great product, works perfectly",
    "excellent quality and fast delivery",
    "i love it, highly recommended",
    "very happy with this purchase",
    "fantastic value, would buy again",
    "the support team was helpful and kind",
    "superb build, great battery life",
    "works as described, very good",
]
negative = [
    "terrible, broke after one day",
    "awful quality, waste of money",
    "very disappointed, does not work",
    "the worst purchase i have made",
    "poor battery and bad support",
    "arrived broken and late",
    "cheap plastic, stopped working",
    "not as described, very bad",
]
train_df = pd.DataFrame({"text": positive + negative})
labels = [1] * len(positive) + [0] * len(negative)
test_df = pd.DataFrame({"text": ["really great, love it", "bad quality, broke fast"]})

with mltrack.run("tfidf-logreg", params={"ngram_range": "1-2", "C": 10.0}) as run:
    model = Pipeline(
        [
            ("tfidf", ColumnTransformer([("text", TfidfVectorizer(ngram_range=(1, 2)), "text")])),
            ("clf", LogisticRegression(C=10.0, max_iter=1000)),
        ]
    ).fit(train_df, labels)
    run.log_metrics({"train_accuracy": model.score(train_df, labels)})
    version = mltrack.save(model, "review-sentiment", input_example=test_df, quiet=True)
mltrack.promote("review-sentiment", version.version, reason="first text model")

vocabulary = model.named_steps["tfidf"].named_transformers_["text"].vocabulary_
print(f"saved {version}: {len(vocabulary)} n-grams, flavor {version.flavor}")
weights = model.named_steps["clf"].coef_[0]
names = model.named_steps["tfidf"].get_feature_names_out()
top = sorted(zip(weights, names, strict=True))
print("most negative:", [n.split("__")[1] for _, n in top[:4]])
print("most positive:", [n.split("__")[1] for _, n in top[-4:]])

with TestClient(create_app("review-sentiment", auth=False)) as api:
    reply = api.post("/predict", json={"records": test_df.to_dict("records")})
    print("POST /predict", test_df["text"].tolist(), "->", reply.json()["predictions"])
    wrong = api.post("/predict", json={"records": [{"txt": "a typo in the column name"}]})
    print("POST /predict with a column 'txt' ->", wrong.status_code, wrong.json()["error"])

# --- checks ---
import mlflow  # noqa: E402

assert reply.status_code == 200 and reply.json()["predictions"] == [1, 0], reply.json()
assert wrong.status_code == 422 and wrong.json()["field"] == "txt", wrong.json()
client = mlflow.MlflowClient()
champion = client.get_model_version_by_alias("review-sentiment", "champion")
assert str(champion.version) == str(version.version), champion
assert client.get_run(run.id).data.metrics["train_accuracy"] == 1.0
signature = mlflow.models.get_model_info(version.uri).signature
assert signature.inputs.input_names() == ["text"], signature
