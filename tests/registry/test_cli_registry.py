"""`ml save/models/promote/card/compare` in-process (the real error boundary) and once
through the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

from mltrack.cli import app


def ml(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `ml ARGS` through the app's own entry point; return (exit code, stdout, stderr)."""
    capsys.readouterr()
    try:
        app(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_workflow(
    train: Any, experiment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = train(metrics={"val_f1": 0.80, "val_accuracy": 0.82}, max_depth=2)
    second = train(metrics={"val_f1": 0.86, "val_accuracy": 0.85}, max_depth=4)

    code, out, _ = ml(capsys, "save", experiment, "--run", first.run_id)
    assert code == 0 and out.strip() == f"models:/{experiment}/1"
    code, out, _ = ml(capsys, "save", experiment)  # latest run with a model: `second`
    assert code == 0 and out.strip() == f"models:/{experiment}/2"

    assert (
        ml(capsys, "promote", experiment, "1", "--to", "champion", "--reason", "baseline")[0] == 0
    )
    code, out, _ = ml(capsys, "promote", experiment, "2", "--to", "challenger")
    assert code == 0 and f"{experiment}@challenger → v2" in out
    assert MlflowClient().get_model_version_by_alias(experiment, "challenger").version == "2"

    code, out, _ = ml(capsys, "models", experiment, "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["version"], r["aliases"], r["run_id"]) for r in rows] == [
        ("2", ["challenger"], second.run_id),
        ("1", ["champion"], first.run_id),
    ]
    assert rows[0]["metrics"] == second.metrics
    # --json, the old spelling, is kept for existing scripts: the same output.
    assert ml(capsys, "models", experiment, "--json") == (0, out, "")
    code, out, _ = ml(capsys, "models", "-f", "json")
    assert code == 0
    listed = {m["name"]: m for m in json.loads(out)}[experiment]
    assert listed["latest_version"] == "2"
    assert listed["aliases"] == {"champion": "1", "challenger": "2"}
    assert ml(capsys, "models", "--json") == (0, out, "")
    code, out, _ = ml(capsys, "models")
    assert code == 0 and "latest" in out and "aliases" in out

    code, out, _ = ml(capsys, "compare", experiment, "--format", "json")
    verdict = json.loads(out)
    assert verdict["promote"] is True and verdict["primary_metric"] == "val_f1"
    code, out, _ = ml(capsys, "compare", experiment, "--metric", "val_f1", "--format", "markdown")
    assert code == 0 and out.startswith(f"# Runs of `{experiment}` by `val_f1`")
    plot = tmp_path / "runs.png"
    code, out, _ = ml(capsys, "compare", experiment, "-m", "val_f1", "--plot", str(plot))
    assert code == 0 and plot.stat().st_size > 1000 and "val_f1" in out
    code, out, _ = ml(
        capsys, "compare", "--champion", first.run_id, "--challenger", second.run_id, "-f", "json"
    )
    assert json.loads(out)["challenger"]["run_id"] == second.run_id

    page = tmp_path / "card.html"
    code, out, _ = ml(
        capsys, "card", f"models:/{experiment}@champion", "-f", "html", "-o", str(page), "--log"
    )
    assert code == 0 and page.read_text().startswith("<!DOCTYPE html>")
    assert "model_card.md" in out
    stored = mlflow.artifacts.load_text(f"runs:/{first.run_id}/model_card.md")
    assert stored.startswith("---\nlibrary_name: sklearn")
    code, out, _ = ml(capsys, "card", second.run_id)
    assert code == 0 and out.startswith("---\n") and "## Metrics" in out


def test_compare_aliases_follows_lower_is_better(
    train: Any, experiment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ml compare NAME --lower-is-better` judges the challenger in that direction."""
    champion = train(metrics={"val_f1": 0.80})
    challenger = train(metrics={"val_f1": 0.86}, max_depth=4)
    for run, alias in ((champion, "champion"), (challenger, "challenger")):
        code, out, err = ml(capsys, "save", experiment, "--run", run.run_id)
        assert code == 0, err
        version = out.strip().rsplit("/", 1)[1]
        assert ml(capsys, "promote", experiment, version, "--to", alias)[0] == 0

    def verdict(*flags: str) -> dict[str, Any]:
        code, out, err = ml(capsys, "compare", experiment, *flags, "--format", "json")
        assert code == 0, err
        return json.loads(out)

    # By its name an f1 is better higher: 0.80 -> 0.86 is an improvement.
    guessed = verdict()
    assert guessed["promote"] is True, guessed
    assert guessed["reasons"][0].startswith("val_f1 (higher is better)"), guessed["reasons"]
    # Told that lower is better, the same rise is a regression: keep the champion.
    lower = verdict("--lower-is-better")
    assert lower["promote"] is False and lower["recommendation"] == "keep champion", lower
    assert lower["reasons"][0].startswith("val_f1 (lower is better)"), lower["reasons"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["promote", "no-such-model-x", "1"], "no registered model named 'no-such-model-x'"),
        (["save", "m", "--run", "0" * 32], "no run with id '" + "0" * 32 + "'"),
        (["compare"], "nothing to compare"),
        (["compare", "--champion", "x"], "pass both --champion and --challenger"),
        (["compare", "no-such-model-x"], "no registered model named 'no-such-model-x'"),
        (["card", "models:/no-such-model-x/1"], "no registered model named 'no-such-model-x'"),
        (["compare", "no-such-exp", "--metric", "m"], "no experiment named 'no-such-exp'"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(
    tracking_uri: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, _, err = ml(capsys, *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_entry_point_exit_code_and_usage_errors(tracking_uri: str, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mltrack", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )

    bad_alias = run("promote", "any-model", "1", "--to", "latest")
    assert bad_alias.returncode == 2 and "Traceback" not in bad_alias.stderr
    assert bad_alias.stderr.strip().splitlines() == [
        "error: invalid alias 'latest': use champion or challenger (or another name of letters, "
        "digits, '_' and '-'; 'latest' and 'v<N>' are reserved by MLflow)"
    ]
    bad_format = run("card", "x", "--format", "pdf")
    assert bad_format.returncode == 2
    assert bad_format.stderr.strip() == "error: unknown --format 'pdf': use one of markdown, html"
