"""Modal: choose a GPU and an autoscaling policy, read them back from the generated app.

`mltrack.ship(..., to="modal")` writes `modal_app.py`; with the `modal` client installed
and authenticated it also runs `modal deploy`. Here `dry_run=True` writes the app only,
and the script parses it to show exactly which Modal settings each option became.
"""

import ast

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack
from mltrack.errors import DeployError, MltrackError

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y), "iris-gpu", input_example=X.head(2), quiet=True
)
mltrack.promote("iris-gpu", saved.version)

profiles = {
    "scale-to-zero-cpu": {"min_replicas": 0, "max_replicas": 3},
    "always-warm-t4": {"gpu": "T4", "min_replicas": 1, "max_replicas": 5, "concurrency": 8},
    "big-batches-a10g": {"gpu": "A10G", "memory_mb": 16384, "timeout_s": 600},
}
found = {}
for label, options in profiles.items():
    result = mltrack.ship(
        "iris-gpu", to="modal", dry_run=True, output_dir=f"out/{label}", **options
    )
    tree = ast.parse((result.output_dir / "modal_app.py").read_text())
    settings = {}
    for node in ast.walk(tree):
        is_call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if is_call and node.func.attr in ("function", "cls", "concurrent"):
            for kw in node.keywords:
                if isinstance(kw.value, ast.Constant):
                    settings[kw.arg] = kw.value.value
    print(f"{label:<20}", settings)
    found[label] = settings

print("\ndeploy with:", result.commands[-1])
try:
    mltrack.ship("iris-gpu", to="modal", dry_run=True, output_dir="out/bad", gpu="V100")
except (DeployError, MltrackError) as exc:
    print(f"\n{type(exc).__name__}: {exc}")

# --- checks ---
assert found["scale-to-zero-cpu"].get("min_containers") == 0, found["scale-to-zero-cpu"]
assert found["scale-to-zero-cpu"]["max_containers"] == 3
warm_t4 = found["always-warm-t4"]
assert (warm_t4["gpu"], warm_t4["min_containers"], warm_t4["max_inputs"]) == ("T4", 1, 8), warm_t4
big = found["big-batches-a10g"]
assert (big["gpu"], big["memory"], big["timeout"]) == ("A10G", 16384, 600), big
try:
    mltrack.ship("iris-gpu", to="modal", dry_run=True, output_dir="out/bad", gpu="V100")
    raise AssertionError("an unknown GPU must be refused")
except MltrackError as exc:
    assert "V100" in str(exc) and "T4" in str(exc), exc
