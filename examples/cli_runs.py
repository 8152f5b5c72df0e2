"""`ml runs`: the latest runs of an experiment, as a table or as JSON.

Three runs are tracked first; `ml runs -e EXPERIMENT -n 2` shows the two latest with
their status, duration and metrics, and `--format json` prints the same for scripts
(the start in ISO 8601 UTC, the duration in seconds).
"""

import contextlib
import io
import json
import shlex

import mltrack
from mltrack.cli import app

for depth in (2, 4, 8):
    with mltrack.run(f"tree-depth-{depth}", experiment="cli-runs", params={"depth": depth}):
        mltrack.log_metric("accuracy", round(0.8 + depth / 100, 2))
mltrack.flush()


def ml(*args: str) -> str:
    """Run `ml ARGS` in this process (the app the `ml` command runs); return its output."""
    print("$ ml", shlex.join(args))
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        app(list(args), prog_name="ml")
    print(buffer.getvalue())
    return buffer.getvalue()


ml("runs", "--experiment", "cli-runs", "--limit", "2")
rows = json.loads(ml("runs", "--experiment", "cli-runs", "--limit", "2", "--format", "json"))

# --- checks ---
assert [r["name"] for r in rows] == ["tree-depth-8", "tree-depth-4"], rows
assert rows[0]["metrics"]["accuracy"] == 0.88 and rows[0]["status"] == "FINISHED", rows[0]
# for scripts: the duration in seconds, a number (the table rounds it to 0.1 s)
assert all(isinstance(r["duration_s"], float) and r["duration_s"] >= 0 for r in rows), rows
