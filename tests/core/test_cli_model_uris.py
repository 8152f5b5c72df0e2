"""Every `ml` command that takes a model resolves runs:/ and models:/ URIs against the
configured store: here a project directory that has only mltrack's embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

# One interpreter for the whole check (MLflow's import is the slow part). Before each
# command the driver forgets the tracking URI, as a new `ml` process would start.
_DRIVER = textwrap.dedent(
    """
    import json, os, sys
    import mlflow
    import numpy as np
    from mlflow.tracking._tracking_service import utils as tracking_utils
    from sklearn.linear_model import LogisticRegression

    import mltrack
    from mltrack.cli import app

    X = np.random.RandomState(0).rand(40, 2)
    y = (X[:, 0] > 0.5).astype(int)
    with mltrack.run("uri-check") as run:
        info = mlflow.sklearn.log_model(
            LogisticRegression().fit(X, y), name="model", input_example=X[:2]
        )

    def fresh():
        tracking_utils._tracking_uri = None
        os.environ.pop("MLFLOW_TRACKING_URI", None)

    def ml(*args):
        fresh()
        print(f"=== {' '.join(args)}", flush=True)
        try:
            app(list(args))
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        print(f"=== exit {code}", flush=True)

    ids = {"run": run.id, "model_id": info.model_id}
    print("IDS " + json.dumps(ids), flush=True)
    ml("save", "uri-demo", "--run", run.id)
    runs_uri = f"runs:/{run.id}/model"
    logged_uri = f"models:/{info.model_id}"
    for uri in (runs_uri, logged_uri, "models:/uri-demo/1"):
        ml("try", uri)
        ml("ship", uri, "--local", "--dry-run")
        ml("card", uri)
    ml("ship", logged_uri, "--to", "docker", "--dry-run")
    ml("try", f"runs:/{'0' * 32}/model")
    """
)


def _sections(out: str) -> dict[str, tuple[int, str]]:
    """``{command: (exit code, output)}`` from the driver's ``=== …`` markers."""
    found: dict[str, tuple[int, str]] = {}
    command, lines = None, []
    for line in out.splitlines():
        if line.startswith("=== exit "):
            assert command is not None
            found[command] = (int(line.split()[-1]), "\n".join(lines))
            command = None
        elif line.startswith("=== "):
            command, lines = line[4:], []
        elif command is not None:
            lines.append(line)
    return found


def test_model_uris_resolve_against_the_embedded_store(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLTRACK_"))}
    env.update(COLUMNS="200", MLTRACK_AUTOLOG="false")
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = json.loads(next(ln[4:] for ln in proc.stdout.splitlines() if ln.startswith("IDS ")))
    results = _sections(proc.stdout)
    assert results[f"save uri-demo --run {ids['run']}"] == (0, "models:/uri-demo/1")
    uris = [f"runs:/{ids['run']}/model", f"models:/{ids['model_id']}", "models:/uri-demo/1"]
    for uri in uris:
        code, out = results[f"try {uri}"]
        assert code == 0 and "latency:" in out, (uri, out, proc.stderr[-2000:])
        code, out = results[f"ship {uri} --local --dry-run"]
        assert code == 0 and f"model: {uri}" in out and "dry run" in out, (uri, out)
        code, out = results[f"card {uri}"]
        assert code == 0 and "LogisticRegression" in out, (uri, out)
    code, out = results[f"ship models:/{ids['model_id']} --to docker --dry-run"]
    assert code == 0 and "docker build" in out, out
    code, _ = results[f"try runs:/{'0' * 32}/model"]
    assert code == 2  # every mltrack error exits 2 with one line
    assert f"error: no run with id '{'0' * 32}'; list runs with `ml runs`" in proc.stderr
    # MLflow's default store in the working directory was never created or touched.
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "mlruns").exists()
    assert "Creating initial MLflow database tables" not in proc.stdout + proc.stderr
