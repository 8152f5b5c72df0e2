"""PyTorch: log a training loop, then save the module to the registry.

Needs the `torch` extra (`uv add "mltrack[torch]"`); without it the script says so and
exits cleanly. The model is a small MLP on scikit-learn's two-moons data, on the CPU.
MLflow's PyTorch autologging covers Lightning's `Trainer.fit`, not a plain loop: the
script prints, as Markdown, what the run holds, read back from the tracking server.
"""

import importlib.util
import sys

if importlib.util.find_spec("torch") is None:
    print("torch is not installed: skipping this example.")
    print('Install the extra to run it: uv add "mltrack[torch]"')
    sys.exit(0)

import mlflow
import torch
from sklearn.datasets import make_moons

import mltrack

torch.manual_seed(0)
X_np, y_np = make_moons(n_samples=400, noise=0.2, random_state=0)
X = torch.tensor(X_np, dtype=torch.float32)
y = torch.tensor(y_np, dtype=torch.float32).unsqueeze(1)


@mltrack.track
def train(hidden: int = 16, lr: float = 0.05, epochs: int = 60) -> dict[str, float]:
    model = torch.nn.Sequential(
        torch.nn.Linear(2, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        optimizer.step()
        mltrack.log_metric("loss", loss.item())  # buffered: no request per step
    accuracy = ((model(X) > 0).float() == y).float().mean().item()
    version = mltrack.save(model, "moons-mlp", input_example=X_np[:3].astype("float32"), quiet=True)
    print(f"Saved `{version}`, flavor `{version.flavor}`.\n")
    return {"accuracy": round(accuracy, 4), "final_loss": round(loss.item(), 4)}


def run_table(run_id: str) -> str:
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


train()
run = mltrack.get_last_run()
print(run_table(run.id))

# --- checks ---
assert run.metrics["accuracy"] > 0.9 and run.params["epochs"] == "60", run
losses = mlflow.MlflowClient().get_metric_history(run.id, "loss")
assert len(losses) == 60, f"every buffered loss value arrived: {len(losses)} of 60"
assert losses[-1].value < losses[0].value, "the loss went down"
(latest,) = mlflow.MlflowClient().get_registered_model("moons-mlp").latest_versions
assert latest.run_id == run.id
recorded = mlflow.MlflowClient().get_run(run.id).data
assert set(recorded.params) == {"hidden", "lr", "epochs"}, "only the function's arguments"
assert set(recorded.metrics) == {"loss", "accuracy", "final_loss"}, recorded.metrics
assert not mlflow.MlflowClient().list_artifacts(run.id), "the model is in the registry"
