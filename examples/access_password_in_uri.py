"""A password inside the tracking URI is used, never shown: not by the run's handle or
the settings a notebook displays, nor in the run links MLflow prints as a run ends.

MLflow accepts ``http://user:password@host`` as the tracking URI. The example points
mltrack at the docs build's server that way (the server has no sign-in, so any password
passes) and prints what a notebook would show.
"""

import contextlib
import io
import os

import mltrack
from mltrack.config import load_settings

PASSWORD = "demo-Pa55word"
server = os.environ["MLFLOW_TRACKING_URI"]  # the docs build's server
host = server.removeprefix("http://")
os.environ["MLFLOW_TRACKING_URI"] = f"http://alice:{PASSWORD}@{host}"

with mltrack.run("uri-with-password") as run:
    run.log_metric("loss", 0.25)
mltrack.flush()
print(repr(run))
print(repr(load_settings()).split(", experiment=")[0] + ", ...)")  # the first field

# --- checks ---
assert PASSWORD not in repr(run) and f"alice:***@{host}" in repr(run)
assert PASSWORD not in repr(load_settings()) and PASSWORD not in str(load_settings())
stored = mltrack.get_run(run.id)  # logged through the URI with the password
assert stored.status == "FINISHED" and stored.metrics["loss"] == 0.25, stored
# The docs build turns MLflow's run links off (MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT);
# here they are on, as in a terminal.
os.environ.pop("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", None)
printed = io.StringIO()
with contextlib.redirect_stdout(printed), mltrack.run("links-again"):
    pass
assert "View run links-again at: http://alice:***@" in printed.getvalue(), printed.getvalue()
assert PASSWORD not in printed.getvalue()
