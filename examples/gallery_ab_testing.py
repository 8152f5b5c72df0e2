"""A/B testing: route live traffic between champion and challenger, then decide.

Two versions of a model are registered and aliased `champion` and `challenger`; both are
served by mltrack's app (in-process here). A deterministic router sends 20 % of users to
the challenger, the outcome of each request is logged per arm, and
`mltrack.compare_models` plus the observed accuracy decide whether to promote.
"""

import hashlib

from fastapi.testclient import TestClient
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

import mltrack
from mltrack.serve.app import create_app

X, y = make_classification(n_samples=1200, n_features=8, n_informative=5, random_state=7)
X_train, X_live, y_train, y_live = train_test_split(X, y, test_size=400, random_state=7)
X_val, y_val = X_train[:200], y_train[:200]

candidates = {
    "champion": LogisticRegression(max_iter=500),
    "challenger": GradientBoostingClassifier(n_estimators=60, max_depth=3, random_state=0),
}
for alias, model in candidates.items():
    with mltrack.run(f"{alias}-{type(model).__name__}", autolog=False) as run:
        model.fit(X_train[200:], y_train[200:])
        run.log_metrics({"accuracy": model.score(X_val, y_val)})
        saved = mltrack.save(model, "churn-ab", input_example=X_val[:2], quiet=True)
    mltrack.promote("churn-ab", saved.version, to=alias, reason="A/B test")
    print(
        f"{alias}: v{saved.version} {type(model).__name__} val accuracy {model.score(X_val, y_val):.3f}"
    )


def arm(user_id: int, challenger_share: float = 0.2) -> str:
    """Same user, same arm: hash the id into [0, 1)."""
    bucket = int(hashlib.sha256(str(user_id).encode()).hexdigest()[:8], 16) / 2**32
    return "challenger" if bucket < challenger_share else "champion"


servers = {alias: create_app(f"churn-ab@{alias}", auth=False) for alias in candidates}
outcomes: dict[str, list[bool]] = {"champion": [], "challenger": []}
with TestClient(servers["champion"]) as champ, TestClient(servers["challenger"]) as chall:
    clients = {"champion": champ, "challenger": chall}
    with mltrack.run("ab-test", params={"challenger_share": 0.2, "requests": len(X_live)}) as ab:
        for user_id, (features, label) in enumerate(zip(X_live, y_live, strict=True)):
            chosen = arm(user_id)
            reply = clients[chosen].post("/predict", json={"instances": [features.tolist()]})
            outcomes[chosen].append(reply.json()["predictions"][0] == label)
        for alias, hits in outcomes.items():
            ab.log_metrics(
                {f"{alias}.requests": len(hits), f"{alias}.accuracy": sum(hits) / len(hits)}
            )

for alias, hits in outcomes.items():
    print(f"{alias:>10}: {len(hits):3d} requests, live accuracy {sum(hits) / len(hits):.3f}")

verdict = mltrack.compare_models("models:/churn-ab@champion", "models:/churn-ab@challenger")
print(f"\noffline comparison: {verdict.recommendation} ({verdict.primary_metric})")
for reason in verdict.reasons:
    print("  -", reason)
live_better = sum(outcomes["challenger"]) / len(outcomes["challenger"]) > sum(
    outcomes["champion"]
) / len(outcomes["champion"])
if verdict.promote and live_better:
    promoted = mltrack.promote("churn-ab", "challenger", reason="won the A/B test")
    print(f"promoted v{promoted.version} to champion; aliases now {promoted.aliases}")
else:
    print("keeping the champion")

# --- checks ---
import mlflow  # noqa: E402

client = mlflow.MlflowClient()
logged = client.get_run(ab.id).data.metrics
assert logged["champion.requests"] + logged["challenger.requests"] == len(X_live) == 400
assert 0.1 < logged["challenger.requests"] / 400 < 0.3, "about 20 % of users see the challenger"
for alias, hits in outcomes.items():
    assert logged[f"{alias}.accuracy"] == sum(hits) / len(hits), alias
    assert sum(arm(u) == alias for u in range(400)) == logged[f"{alias}.requests"], alias
champion_now = str(client.get_model_version_by_alias("churn-ab", "champion").version)
if verdict.promote and live_better:
    assert champion_now == str(promoted.version), "the challenger won and holds the alias"
else:
    kept = client.get_model_version("churn-ab", champion_now).tags
    assert kept["mltrack.promotion_reason"] == "A/B test", "the champion kept its alias"
