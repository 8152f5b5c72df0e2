"""The tracking store: one decision, in MLflow's order, re-made only when an input changes."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from mltrack import store
from mltrack.cli import app
from mltrack.store import tracking_store


@pytest.fixture()
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh project directory, no tracking variables, no URI set in code."""
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    for var in ("MLFLOW_TRACKING_URI", "MLTRACK_TRACKING_URI"):
        monkeypatch.delenv(var, raising=False)
    mlflow.set_tracking_uri(None)
    monkeypatch.setattr(store, "_STATE", store._State())
    yield root
    mlflow.set_tracking_uri(None)


def test_embedded_store_when_nothing_is_configured(project: Path) -> None:
    found = tracking_store()
    db = project / ".mltrack" / "mlflow.db"
    assert (found.uri, found.source) == (f"sqlite:///{db}", "embedded")
    assert db.is_file()  # created on first use
    assert mlflow.get_tracking_uri() == found.uri
    # MLflow exports it, so a subprocess uses the same store (through the environment).
    assert os.environ["MLFLOW_TRACKING_URI"] == found.uri


def test_config_file_beats_the_embedded_store(project: Path) -> None:
    (project / ".mltrack.yml").write_text(f"tracking_uri: sqlite:///{project / 'team.db'}\n")
    found = tracking_store()
    assert (found.uri, found.source) == (f"sqlite:///{project / 'team.db'}", "config")
    assert found.origin == str(project / ".mltrack.yml")


def test_environment_beats_the_config_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / ".mltrack.yml").write_text("tracking_uri: sqlite:///from-file.db\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-mlflow-env.db")
    found = tracking_store()
    assert (found.uri, found.source, found.origin) == (
        "sqlite:///from-mlflow-env.db",
        "environment",
        "MLFLOW_TRACKING_URI",
    )
    monkeypatch.setenv("MLTRACK_TRACKING_URI", "sqlite:///from-mltrack-env.db")
    assert tracking_store().origin == "MLTRACK_TRACKING_URI"  # an input changed: decided again


def test_uri_set_in_code_after_import_beats_the_environment(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    assert tracking_store().source == "environment"
    mlflow.set_tracking_uri(f"sqlite:///{project / 'code.db'}")
    found = tracking_store()
    assert (found.uri, found.source) == (f"sqlite:///{project / 'code.db'}", "code")


def test_decided_once_and_again_only_when_an_input_changes(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tracking_store()
    assert tracking_store() is first  # nothing changed: the same decision, no file access
    # mltrack's own choice (MLflow wrote it into the environment) is not mistaken for
    # the user's: a config file added later still wins over the embedded store.
    (project / ".mltrack.yml").write_text("tracking_uri: sqlite:///later.db\n")
    assert tracking_store().source == "config"
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    moved = tracking_store()
    assert (
        moved.source == "embedded" and moved.uri == f"sqlite:///{other / '.mltrack' / 'mlflow.db'}"
    )


def test_a_subprocess_inherits_the_store(project: Path) -> None:
    parent = tracking_store()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from mltrack.store import tracking_store; s = tracking_store(); "
            "print(s.uri, s.source)",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert child.stdout.split() == [parent.uri, "environment"]


def test_doctor_names_the_rule_that_won(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def doctor_tracking_line() -> str:
        capsys.readouterr()
        try:
            app(["doctor"])
        except SystemExit as exc:
            assert exc.code in (0, None)
        out = capsys.readouterr().out
        # The table may wrap a long path over rows: read it as words.
        words = " ".join(out.replace("│", " ").split())
        return words[words.index(" tracking ") : words.index(" git ")]

    line = doctor_tracking_line()
    assert "the project's embedded store" in line
    assert not (project / ".mltrack").exists()  # doctor decides, it creates nothing
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert "from MLFLOW_TRACKING_URI" in doctor_tracking_line()
