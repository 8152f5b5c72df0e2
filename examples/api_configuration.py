"""Configuration: settings from `.mltrack.yml`, the environment and arguments.

`load_settings` reads the nearest `.mltrack.yml`; an environment variable
(`MLTRACK_<KEY>`, `MLTRACK_<SECTION>__<KEY>`) overrides the file, and a keyword argument
overrides both. `tracking_store` says which tracking store is in effect and why.
"""

import os
import tempfile
from pathlib import Path

from mltrack.config import Settings, find_config_file, load_settings
from mltrack.store import tracking_store

here = Path.cwd()
# A project of its own: your .mltrack.yml is untouched (removed at exit, even on failure).
project = tempfile.TemporaryDirectory()
os.chdir(project.name)
Path(".mltrack.yml").write_text("experiment: fraud\nllm:\n  budget_usd: 5\n")
environ = {"MLTRACK_LLM__BUDGET_USD": "2.5"}

settings = load_settings(environ=environ)
print("config file:", find_config_file().name)
print("experiment:", settings.experiment, "| llm.budget_usd:", settings.llm.budget_usd)
print("with an argument:", load_settings(environ=environ, experiment="fraud-v2").experiment)
print("tracking store:", tracking_store(apply=False).describe())

# --- checks ---
assert isinstance(settings, Settings), type(settings)
assert settings.experiment == "fraud" and settings.llm.budget_usd == 2.5, settings
assert load_settings(environ={}).llm.budget_usd == 5, "the file's value without the variable"
os.chdir(here)
project.cleanup()
