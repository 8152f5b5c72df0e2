"""PyTorch: log a training loop, then save the module to the registry.

Needs the `torch` extra (`uv add "mltrack[torch]"`); without it the script says so and
exits cleanly. The model is a small MLP on scikit-learn's two-moons data, on the CPU.
"""

import importlib.util
import sys

if importlib.util.find_spec("torch") is None:
    print("torch is not installed: skipping this example.")
    print('Install the extra to run it: uv add "mltrack[torch]"')
    sys.exit(0)

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
    version = mltrack.save(model, "moons-mlp", input_example=X_np[:3].astype("float32"))
    print("flavor:", version.flavor)
    return {"accuracy": round(accuracy, 4), "final_loss": round(loss.item(), 4)}


print(train())

# --- checks ---
import mlflow  # noqa: E402

run = mltrack.get_last_run()
assert run.metrics["accuracy"] > 0.9 and run.params["epochs"] == "60", run
losses = mlflow.MlflowClient().get_metric_history(run.id, "loss")
assert len(losses) == 60, f"every buffered loss value arrived: {len(losses)} of 60"
assert losses[-1].value < losses[0].value, "the loss went down"
(latest,) = mlflow.MlflowClient().get_registered_model("moons-mlp").latest_versions
assert latest.run_id == run.id
