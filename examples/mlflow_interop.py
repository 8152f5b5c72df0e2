"""mltrack and plain MLflow in the same program: nothing to migrate.

An mltrack run is an MLflow run. Inside it, `mlflow.*` calls log to it; outside, MLflow's
client reads it back like any other run; and a run started with `mlflow.start_run` makes
tracked functions its children.
"""

import mlflow

import mltrack

# 1. Plain MLflow calls inside an mltrack run go to that run.
with mltrack.run("mixed", params={"source": "mltrack"}) as run:
    mlflow.log_param("also_logged_by", "mlflow.log_param")
    mlflow.log_metric("mlflow_metric", 1.0)
    mltrack.log_metric("mltrack_metric", 2.0)
    mlflow.log_text("written with mlflow.log_text", "notes.txt")
    assert mlflow.active_run().info.run_id == run.id

# 2. MLflow's own client reads the run: same ids, params, metrics, artifacts.
client = mlflow.MlflowClient()
stored = client.get_run(run.id)
print("params:", stored.data.params)
print("metrics:", stored.data.metrics)
print("artifacts:", [a.path for a in client.list_artifacts(run.id)])


# 3. A tracked function called inside mlflow.start_run becomes a child run.
@mltrack.track
def evaluate(threshold: float) -> dict[str, float]:
    return {"recall": 1 - threshold / 2}


with mlflow.start_run(run_name="plain-parent") as parent:
    evaluate(0.3)
children = client.search_runs(
    [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
)
print("children of plain-parent:", [(c.info.run_name, c.data.metrics) for c in children])

# --- checks ---
assert stored.data.params == {"source": "mltrack", "also_logged_by": "mlflow.log_param"}
assert stored.data.metrics == {"mlflow_metric": 1.0, "mltrack_metric": 2.0}, stored.data.metrics
assert [a.path for a in client.list_artifacts(run.id)] == ["notes.txt"]
assert len(children) == 1 and children[0].info.run_name == "evaluate", children
assert (
    children[0].data.metrics == {"recall": 0.85} and children[0].data.params["threshold"] == "0.3"
)
