"""The quick start page keeps its promise: a tracked run and a served model in < 5 minutes.

The test reads the page's samples (its ``livedocs`` blocks, in page order) and runs them as
a new user would: in an empty directory, with no tracking server configured (mltrack's
local store) and nothing cached. The clock covers every sample of the page.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mltrack.livedocs.directives import find_directives

REPO_ROOT = Path(__file__).resolve().parent.parent
PAGE = "docs/getting-started/quickstart.md"
BUDGET_S = 300


def _fresh_user_env() -> dict[str, str]:
    """This environment without any tracking or mltrack setting (a machine that has none)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MLFLOW_", "MLTRACK_"))
    } | {"COLUMNS": "120"}


def _command(directive_file: str | None, cli: str | None) -> list[str]:
    if directive_file:
        return [sys.executable, str(REPO_ROOT / directive_file)]
    assert cli is not None
    argv = shlex.split(cli)
    assert argv[0] == "ml", f"{PAGE}: unexpected command {cli!r}"
    return [sys.executable, "-m", "mltrack", *argv[1:]]


@pytest.mark.slow
def test_quickstart_reaches_a_tracked_run_and_a_served_model_in_five_minutes(
    tmp_path: Path,
) -> None:
    directives = find_directives(PAGE, (REPO_ROOT / PAGE).read_text())
    assert any(d.file == "examples/quickstart.py" for d in directives), "the page lost its script"
    outputs = []
    started = time.monotonic()
    for directive in directives:
        if directive.screenshot is not None:
            continue  # a picture of what the steps made, not a step of its own
        proc = subprocess.run(
            _command(directive.file, directive.cli),
            cwd=tmp_path,
            env=_fresh_user_env(),
            capture_output=True,
            text=True,
            timeout=BUDGET_S,
        )
        where = f"{PAGE}:{directive.line} ({directive.file or directive.cli})"
        assert proc.returncode == 0, f"{where} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}"
        outputs.append(proc.stdout)
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_S, f"the quick start took {elapsed:.0f} s (promise: < {BUDGET_S} s)"

    script_output = outputs[[d.file for d in directives].index("examples/quickstart.py")]
    # The served model answered: three iris classes came back over HTTP.
    predictions = [line for line in script_output.splitlines() if "predictions:" in line]
    assert predictions, f"no served prediction in the output:\n{script_output}"
    answer = predictions[0].split("predictions:", 1)[1].strip()
    assert answer.startswith("[") and len(answer.strip("[]").split(",")) == 3, answer

    # The runs and the champion are in the local store the page promises (.mltrack/).
    store = tmp_path / ".mltrack" / "mlflow.db"
    assert store.exists(), f"no local store at {store}"
    with sqlite3.connect(store) as db:
        finished = db.execute(
            "SELECT count(*) FROM runs WHERE name = 'train' AND status = 'FINISHED'"
        ).fetchone()[0]
        champion = db.execute(
            "SELECT version FROM registered_model_aliases "
            "WHERE name = 'iris-quickstart' AND alias = 'champion'"
        ).fetchone()
    assert finished == 3, f"expected the 3 tracked runs of the sweep, found {finished}"
    assert champion is not None, "iris-quickstart has no champion"
    assert f"champion: models:/iris-quickstart/{champion[0]}" in script_output
