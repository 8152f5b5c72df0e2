# livedocs: timeout=180
"""Ship to Modal: a generated app file with GPU and autoscaling settings.

`modal deploy modal_app.py` runs it; mltrack runs that for you when the `modal` client is
installed and authenticated, and prints the command otherwise or, as here, with
`dry_run=True` (the files are written, nothing is deployed).
"""

from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

import mltrack

X, y = load_iris(return_X_y=True, as_frame=True)
saved = mltrack.save(
    LogisticRegression(max_iter=500).fit(X, y),
    name="iris-modal",
    input_example=X.head(2),
    quiet=True,
)

result = mltrack.ship(
    "iris-modal",
    to="modal",
    dry_run=True,
    output_dir="build/iris-modal",
    gpu="T4",
    max_replicas=4,
    concurrency=32,
)
print(result.summary())
print()
print((result.output_dir / "modal_app.py").read_text())

# --- checks ---
app_source = (result.output_dir / "modal_app.py").read_text()
compile(app_source, "modal_app.py", "exec")  # valid Python
assert '"T4"' in app_source or "'T4'" in app_source, "the GPU setting"
assert "max_containers=4" in app_source and "max_inputs=32" in app_source
assert result.deployed is False and any("modal deploy" in c for c in result.commands)
