# livedocs: timeout=420
"""After the quick start: what `ml runs`, `ml models` and `ml try` show.

With no tracking server set, the quick start's runs and model are in mltrack's local
store (`.mltrack/`, in the folder it ran in); the commands read that store back. In a
folder where it has not run yet, the script runs it first.
"""

from pathlib import Path

from _session import ml, python

if not Path(".mltrack").is_dir():
    python(Path(__file__).resolve().with_name("quickstart.py"))
runs = ml("runs")
models = ml("models", "iris-quickstart")
reply = ml("try", "iris-quickstart")

# --- checks ---
import json  # noqa: E402

assert (Path(".mltrack") / "mlflow.db").is_file(), "the quick start used the local store"
assert runs.count(" train ") == 3 and runs.count("accuracy=") == 3, runs
assert "champion" in models and all(f"\n│ {v} " in models for v in "123"), models
assert "training_" not in runs + models, "the tables show the metric the quick start returned"
predictions = json.loads(reply[reply.index("{") : reply.rindex("}") + 1])["predictions"]
assert len(predictions) == 2, reply  # the model's input example: two flowers
