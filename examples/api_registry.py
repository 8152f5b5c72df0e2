"""The registry API: save a model, promote it, list models and versions.

`mltrack.save` logs and registers in one call (a new version per call); `promote`
moves the champion or challenger alias and records why; `list_versions` and
`get_version` read the registry back with each version's run metrics. `register` adds
an already logged model under another name; `resolve_model` turns a name, URI or run
id into its run and version; `client()` is an `MlflowClient` for what mltrack lacks.
"""

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.registry import (
    client,
    describe_model_class,
    detect_flavor,
    get_version,
    list_models,
    list_versions,
    register,
    resolve_model,
)

X, y = load_iris(return_X_y=True, as_frame=True)
for c in (0.1, 1.0):
    with mltrack.run(
        f"logreg-C{c}", experiment="api-registry", params={"C": c}, autolog=False
    ) as run:
        model = LogisticRegression(C=c, max_iter=500).fit(X, y)
        run.log_metrics({"accuracy": round(model.score(X, y), 4)})
        saved = mltrack.save(model, "api-iris", run=run, input_example=X.head(2), quiet=True)
    print("saved", saved.uri, "from run", run.name)
print("model:", describe_model_class(model), "| flavor:", detect_flavor(model))

mltrack.promote("api-iris", "1", to="champion", reason="first baseline")
mltrack.promote("api-iris", saved.version, to="challenger", reason="higher C")
for version in list_versions("api-iris"):
    print(f"v{version.version}", version.aliases, version.flavor, version.metrics)
champion = get_version("api-iris", "champion")
print("champion:", champion.uri, "reason:", champion.tags["mltrack.promotion_reason"])
print("models:", [(m.name, m.aliases) for m in list_models() if m.name == "api-iris"])

copy = register(champion.source, "api-iris-audit", description="frozen for the audit", quiet=True)
print("registered again:", copy.uri, "from the same run:", copy.run_id == champion.run_id)
resolved = resolve_model("api-iris")  # a bare name means its champion
print("api-iris resolves to version", resolved.version, "alias", resolved.alias)
audit = client().get_model_version("api-iris-audit", copy.version)  # plain MLflow reads it too
print("MlflowClient sees the version's description:", audit.description)

# --- checks ---
assert describe_model_class(model) == "LogisticRegression" and detect_flavor(model) == "sklearn"
assert copy.version == "1" and copy.run_id == champion.run_id, copy
assert audit.description == "frozen for the audit", audit.description
assert resolved.version == "1" and resolved.run_id == champion.run_id, resolved
assert [v.version for v in list_versions("api-iris")] == ["2", "1"], "newest first"
assert champion.version == "1" and get_version("api-iris", "challenger").version == "2"
assert get_version("api-iris", "2").metrics["accuracy"] > 0.9
