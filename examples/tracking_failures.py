"""A failing function: the run is marked FAILED with the error, and the error re-raised."""

import mltrack


@mltrack.track
def train(learning_rate: float) -> float:
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate}")
    return 0.9


try:
    train(learning_rate=-1)
except ValueError as error:
    print("caught:", error)

run = mltrack.get_last_run()
print("status:", run.status)
print("error type:", run.tags["mltrack.error.type"])
print("error message:", run.tags["mltrack.error.message"])

# --- checks ---
assert run.name == "train" and run.status == "FAILED", run.status
assert run.tags["mltrack.error.type"] == "ValueError"
assert run.tags["mltrack.error.message"] == "learning_rate must be positive, got -1"
assert run.params["learning_rate"] == "-1" and "result" not in run.metrics
