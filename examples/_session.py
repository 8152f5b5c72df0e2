"""A reader's terminal session, for the examples that show `ml` commands after a script.

The commands run in this folder with no tracking server and no experiment set, as in a
new project: a script's runs and models go to mltrack's local store (`.mltrack/`) and
the `ml` commands read them back. Each runs in its own process, as typed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

#: A reader's shell: the variables that would point the commands elsewhere are unset.
ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in {"MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLTRACK_EXPERIMENT"}
}


def python(script: Path) -> str:
    """Run ``python SCRIPT`` quietly (the page shows its output already); return it."""
    done = subprocess.run([sys.executable, str(script)], env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"python {script.name} exited with {done.returncode}:\n{done.stderr}")
    return done.stdout


def ml(*args: str) -> str:
    """Print ``$ ml ARGS`` and what the command printed; return its output."""
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", *args], env=ENV, capture_output=True, text=True
    )
    print("$ ml", shlex.join(args))
    print(done.stdout.rstrip() or done.stderr.rstrip(), end="\n\n", flush=True)
    if done.returncode != 0:
        raise SystemExit(f"ml {' '.join(args)} exited with {done.returncode}")
    return done.stdout
