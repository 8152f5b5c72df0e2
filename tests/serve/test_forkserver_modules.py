"""What the fork server holds imported before it forks: what its children inherit."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from mltrack._forkserver import FORKSERVER_MODULES

# The fork server's own sequence (mltrack._forkserver._serve): each module, then the
# scikit-learn warm-up when scikit-learn is imported.
_PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        pass
if "sklearn" in sys.modules:
    from mltrack.frameworks import preload
    preload()
from mltrack.frameworks import detect_frameworks
print(json.dumps({"frameworks": detect_frameworks(), "skops": "skops.io" in sys.modules}))
"""


def test_forkserver_imports_no_framework_but_scikit_learn() -> None:
    """A child's ``mltrack.frameworks`` takes what is imported as the program's: a forked
    ``ml train`` must not find torch there (skops.io imports it unless kept from it)."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *FORKSERVER_MODULES],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["frameworks"] == ["sklearn"]
    assert seen["skops"]  # still warmed: MLflow saves scikit-learn models with it
