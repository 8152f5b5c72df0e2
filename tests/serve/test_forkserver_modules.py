"""What the fork server holds imported before it forks: what its children inherit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mltrack._forkserver import FORKSERVER_MODULES


def _probe(script: str, *args: str, timeout: float) -> dict[str, object]:
    """Run ``script`` in a fresh interpreter; the JSON object on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return seen


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
    seen = _probe(_PROBE, *FORKSERVER_MODULES, timeout=300)
    assert seen["frameworks"] == ["sklearn"]
    assert seen["skops"]  # still warmed: MLflow saves scikit-learn models with it


_DROP_PROBE = """
import json, sys
import openai
import sqlalchemy
from mltrack._process import drop_inherited_connections

engine = sqlalchemy.create_engine("sqlite:///" + sys.argv[1])
with engine.connect() as conn:
    conn.execute(sqlalchemy.text("select 1"))
pooled = engine.pool.checkedin()
drop_inherited_connections()
print(json.dumps({
    "pooled": [pooled, engine.pool.checkedin()],
    "lazy_loaded": sorted(m for m in ("openai.resources.beta.beta", "openai.resources.admin.admin")
                          if m in sys.modules),
}))
"""


def test_dropping_inherited_connections_leaves_lazy_modules_unloaded(tmp_path: Path) -> None:
    """A forked child forgets the parent's pooled SQL connections, without loading what
    lazy proxies (openai's module-level clients) stand for on the way: seconds."""
    seen = _probe(_DROP_PROBE, str(tmp_path / "db.sqlite"), timeout=120)
    assert seen["pooled"] == [1, 0]  # the engine was found and its pool forgotten
    assert seen["lazy_loaded"] == []


_LOAD_PROBE = """
import json, sys
from mltrack.serve.model import load_model
from mltrack.frameworks import detect_frameworks

import numpy as np

loaded = load_model(sys.argv[1])
answer = loaded.pyfunc.predict(np.random.RandomState(1).rand(4, 3))
print(json.dumps({"frameworks": detect_frameworks(), "predictions": len(answer)}))
"""


def test_a_scikit_learn_model_loads_without_torch(tmp_path: Path) -> None:
    """skops (MLflow's scikit-learn format) imports torch when installed unless kept from
    it: seconds and ~180 MB for `ml try`, `ml ship --local` or a model server, and torch
    would look imported by the program."""
    import mlflow.sklearn
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    X = np.random.RandomState(0).rand(30, 3)
    model = LogisticRegression().fit(X, (X[:, 0] > 0.5).astype(int))
    path = tmp_path / "model"
    mlflow.sklearn.save_model(
        model,
        str(path),
        serialization_format="skops",
        input_example=X[:4],
        pip_requirements=["scikit-learn"],  # MLflow's inference runs a process: seconds
    )
    seen = _probe(_LOAD_PROBE, str(path), timeout=300)
    assert seen["predictions"] == 4
    assert seen["frameworks"] == ["sklearn"], "torch (or another framework) came along"
