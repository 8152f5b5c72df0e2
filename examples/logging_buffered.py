"""Buffered metric logging: 5,000 values in about the time of a few HTTP requests.

``mltrack.log_metric`` queues the value; a background thread sends batches of up to
1,000 with MLflow's ``log_batch``. ``mltrack.flush()`` waits until everything arrived.
"""

import time

from mlflow import MlflowClient

import mltrack

with mltrack.run("buffered-logging") as run:
    start = time.perf_counter()
    for step in range(5000):
        mltrack.log_metric("signal", (step % 100) / 100, step=step)
    queued = time.perf_counter() - start
    mltrack.flush()
    delivered = time.perf_counter() - start

history = MlflowClient().get_metric_history(run.id, "signal")
print(f"queued 5000 values in {queued * 1000:.0f} ms, delivered in {delivered:.2f} s")
print("values on the server:", len(history))

# --- checks ---
assert len(history) == 5000, f"every value arrived: {len(history)} of 5000"
assert sorted(m.step for m in history) == list(range(5000))
assert {m.value for m in history if m.step == 150} == {0.5}
