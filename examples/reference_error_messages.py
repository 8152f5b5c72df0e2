"""What the errors look like: real mistakes and the one-line messages they produce.

Each case makes a real mistake against the tracking store in use and prints the
exception class and message. The last case runs the `ml` command itself: one line on
stderr and exit status 2, no traceback.
"""

import contextlib
import subprocess
import sys
import tempfile
from pathlib import Path

import mltrack
from mltrack.errors import MltrackError

caught: dict[str, MltrackError] = {}


def show(what: str, action) -> None:
    try:
        action()
    except MltrackError as exc:
        caught[what] = exc
        print(f"{what}\n  -> {type(exc).__name__}: {exc}\n")


show("a run id that does not exist", lambda: mltrack.get_run("0" * 32))
show("a model that was never registered", lambda: mltrack.promote("no-such-model", 1))
show("an alias MLflow reserves", lambda: mltrack.promote("any-model", 1, to="latest"))
show("a model name with a slash", lambda: mltrack.save(object(), name="team/model"))

# A project of its own: your .mltrack.yml is untouched.
with tempfile.TemporaryDirectory() as project, contextlib.chdir(project):
    Path(".mltrack.yml").write_text("autolog: sometimes\n")
    show("a wrong type in .mltrack.yml", mltrack.load_settings)
    Path(".mltrack.yml").write_text("tracking_url: http://mlflow:5000\n")
    show("a misspelt key in .mltrack.yml", mltrack.load_settings)

done = subprocess.run(
    [sys.executable, "-m", "mltrack", "card", "models:/no-such-model/1"],
    capture_output=True,
    text=True,
)
print(f"$ ml card models:/no-such-model/1\n{done.stderr.strip()}\nexit status: {done.returncode}")

# --- checks ---
# Every mistake raised a one-line MltrackError, and the CLI printed one line, exit status 2.
assert len(caught) == 6, sorted(caught)
assert all("\n" not in str(exc) for exc in caught.values()), caught
assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
assert "Traceback" not in done.stderr
