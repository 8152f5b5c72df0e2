"""Champion and challenger: move registry aliases and record who, when and why.

Two versions of a model are saved; version A becomes the `champion`, version B the
`challenger`. Comparing them recommends whether B should take over; promoting B moves the
`champion` alias, removes its `challenger` alias and records the promotion as tags on
the version.
"""

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import train_test_split

import mltrack
from mltrack.insights import compare_aliases
from mltrack.registry import list_versions

X, y = load_breast_cancer(return_X_y=True, as_frame=True)
X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=0)
NAME = "cancer-screening"


def train(n_estimators: int, max_depth: int) -> mltrack.registry.ModelVersionInfo:
    params = {"n_estimators": n_estimators, "max_depth": max_depth}
    with mltrack.run(f"rf-{n_estimators}x{max_depth}", params=params, autolog=False) as run:
        model = RandomForestClassifier(**params, random_state=0).fit(X_train, y_train)
        run.log_metrics({"val_f1": f1_score(y_val, model.predict(X_val))})
        return mltrack.save(model, name=NAME, input_example=X_val[:3], quiet=True)


a = train(n_estimators=5, max_depth=2)
b = train(n_estimators=50, max_depth=6)
mltrack.promote(NAME, a.version, to="champion", reason="first model")
mltrack.promote(NAME, b.version, to="challenger", reason="deeper forest")

verdict = compare_aliases(NAME, metric="val_f1")
print(f"{verdict.recommendation}: {verdict.reasons[0]}")

if verdict.promote:
    promoted = mltrack.promote(NAME, b.version, to="champion", reason="beats champion on F1")
    print("now champion:", promoted.uri, "aliases:", promoted.aliases)
    for key in ("promoted_by", "promoted_at", "promotion_reason", "previous_champion"):
        print(f"  mltrack.{key} = {promoted.tags['mltrack.' + key]}")

for v in list_versions(NAME)[:2]:
    print(f"v{v.version}: aliases={list(v.aliases)} val_f1={v.metrics['val_f1']:.3f}")

# --- checks ---
import mlflow  # noqa: E402

client = mlflow.MlflowClient()
aliases = {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}
if verdict.promote:
    assert aliases == {"champion": str(b.version)}, aliases  # challenger alias removed
    tags = client.get_model_version(NAME, str(b.version)).tags
    assert tags["mltrack.promotion_reason"] == "beats champion on F1"
    assert tags["mltrack.previous_champion"] == str(a.version), tags
else:
    assert aliases == {"champion": str(a.version), "challenger": str(b.version)}, aliases
f1 = {v.version: v.metrics["val_f1"] for v in list_versions(NAME)}
assert verdict.promote == (f1[str(b.version)] > f1[str(a.version)]), f1
