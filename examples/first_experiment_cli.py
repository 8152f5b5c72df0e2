# livedocs: timeout=300
"""After your first experiment: `ml runs` lists the sweep, `ml compare` ranks it.

With no tracking server set, the sweep's runs are in mltrack's local store (`.mltrack/`,
in the folder it ran in), in the `Default` experiment; the commands read them back. In a
folder where it has not run yet, the script runs it first.
"""

from pathlib import Path

from _session import ml, python

if not Path(".mltrack").is_dir():
    python(Path(__file__).resolve().with_name("first_experiment.py"))
runs = ml("runs")
ranking = ml("compare", "Default", "--metric", "rmse")

# --- checks ---
assert runs.count(" train_ridge ") == 4, runs
assert "training_" not in runs and runs.count("rmse=") == 4, "the metrics the function returned"
assert "alpha" in ranking and "0.1" in ranking, ranking  # alpha=0.1 has the lowest rmse
