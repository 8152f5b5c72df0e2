"""The core CLI: in-process through the app's own error boundary, and a few real processes
(the installed `ml` entry point, the exit status and stderr a shell sees)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests._helpers import ml_in_process, running

ML = Path(sys.executable).with_name("ml")  # the console script `pip install` wrote


def ml(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`ml ARGS` in this process, started as a new process would be: no URI set in code."""
    from mlflow.tracking._tracking_service import utils as tracking_utils

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tracking_utils, "_tracking_uri", None)
        return ml_in_process(*args, cwd=cwd, env=env)


def real_ml(
    *args: str, cwd: Path, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`ml ARGS` as a shell runs it: the installed entry point, in a process of its own
    (this process's environment without ``drop``, plus ``env``)."""
    inherited = {k: v for k, v in os.environ.items() if k not in drop}
    return subprocess.run(
        [str(ML), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**inherited, "COLUMNS": "200", **(env or {})},
        timeout=180,
    )


def test_installed_entry_point_help_version_and_user_error(
    tracking_uri: str, tmp_path: Path
) -> None:
    out = real_ml("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("doctor", "train", "runs", "sync"):
        assert command in out.stdout
    version = real_ml("--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.strip().startswith("mltrack ")
    # All a shell sees of a user error: status 2 and one line, nothing else on stderr.
    error = real_ml("runs", "--experiment", "does-not-exist", cwd=tmp_path)
    assert error.returncode == 2
    assert error.stderr.strip().splitlines() == [
        "error: no experiment named 'does-not-exist'; see `ml runs` for all experiments"
    ]


def test_user_error_is_one_line_exit_2(tracking_uri: str, tmp_path: Path) -> None:
    out = ml("runs", "--experiment", "does-not-exist", cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "error: no experiment named 'does-not-exist'; see `ml runs` for all experiments"
    ]
    debug = ml("--debug", "runs", "--experiment", "does-not-exist", cwd=tmp_path)
    assert "Traceback" in debug.stderr
    assert debug.returncode == 2  # the same status, with the traceback


def test_mltrack_debug_env_shows_the_traceback(tracking_uri: str, tmp_path: Path) -> None:
    """The same user error as above: one line and exit 2 unless MLTRACK_DEBUG is on."""
    args = ("runs", "--experiment", "does-not-exist")
    off = ml(*args, cwd=tmp_path, env={"MLTRACK_DEBUG": "0"})
    assert off.returncode == 2
    assert len(off.stderr.strip().splitlines()) == 1 and "Traceback" not in off.stderr
    debug = ml(*args, cwd=tmp_path, env={"MLTRACK_DEBUG": "1"})
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "RunNotFoundError: no experiment named 'does-not-exist'" in debug.stderr
    # It is the `debug` setting's variable: it overrides the file both ways, as any does.
    (tmp_path / ".mltrack.yml").write_text("debug: true\n")
    assert "Traceback" in ml(*args, cwd=tmp_path).stderr
    quiet = ml(*args, cwd=tmp_path, env={"MLTRACK_DEBUG": "false"})
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr, quiet.stderr
    from mltrack.config import load_settings

    assert load_settings(start=tmp_path, environ={"MLTRACK_DEBUG": "1"}).debug is True
    assert load_settings(start=tmp_path, environ={"MLTRACK_DEBUG": "0"}).debug is False


def test_bad_config_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / ".mltrack.yml").write_text("bogus: 1\n")
    out = ml("runs", cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown key 'bogus'" in out.stderr and "Traceback" not in out.stderr


def test_doctor_ok_and_failing(tracking_uri: str, tmp_path: Path) -> None:
    ok = ml("doctor", cwd=tmp_path)
    assert ok.returncode == 0, ok.stdout
    assert "answers /health" in ok.stdout and "all checks passed" in ok.stdout
    bad = ml("doctor", cwd=tmp_path, env={"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"})
    assert bad.returncode == 1
    assert "unreachable" in bad.stdout


def test_train_runs_script_under_a_run(experiment: str, tmp_path: Path) -> None:
    script = tmp_path / "train_script.py"
    script.write_text(
        "import sys, mlflow, mltrack\n"
        "mlflow.log_metric('outer', 1.0)\n"
        "mltrack.log_metric('loss', 0.5)  # no run of its own: the one `ml train` started\n"
        "@mltrack.track\n"
        "def fold(k: int) -> float:\n"
        "    return k * 0.1\n"
        "fold(3)\n"
        "print('epochs', sys.argv[1:])\n"
    )
    out = ml(
        "train", str(script), "--epochs", "2", cwd=tmp_path, env={"MLTRACK_EXPERIMENT": experiment}
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "epochs ['--epochs', '2']" in out.stdout
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
    parent, child = runs["train_script"], runs["fold"]
    assert parent.data.metrics == {"outer": 1.0, "loss": 0.5}
    assert parent.data.params["args"] == "--epochs 2"
    assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert child.data.metrics == {"result": 0.30000000000000004}
    log = client.download_artifacts(parent.info.run_id, "train.log", str(tmp_path))
    assert "epochs" in Path(log).read_text()


def test_train_script_gets_the_users_mlflow_settings_not_the_clis(
    experiment: str, tmp_path: Path
) -> None:
    # The CLI lowers MLflow's HTTP retries for itself (a person is waiting); a training
    # script keeps MLflow's defaults, or whatever the user set. Real processes: what the
    # script inherits is the environment of the `ml` process itself.
    script = tmp_path / "show_env.py"
    script.write_text(
        "import os\nprint('retries:', os.environ.get('MLFLOW_HTTP_REQUEST_MAX_RETRIES'))\n"
    )
    env = {"MLTRACK_EXPERIMENT": experiment}
    # A user's shell without the variable (whatever an in-process test left in this one).
    unset = ("MLFLOW_HTTP_REQUEST_MAX_RETRIES",)
    default = real_ml("train", str(script), cwd=tmp_path, env=env, drop=unset)
    assert default.returncode == 0, default.stdout + default.stderr
    assert "retries: None" in default.stdout
    own = real_ml(
        "train", str(script), cwd=tmp_path, env={**env, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "9"}
    )
    assert "retries: 9" in own.stdout


OFFLINE_TRAIN_SCRIPT = """
import mltrack

mltrack.log_metric("loss", 0.5)
mltrack.log_metric("loss", 0.25)


@mltrack.track
def evaluate() -> float:
    return 0.9


evaluate()
"""


def test_train_while_the_server_is_down_keeps_the_scripts_values_for_ml_sync(
    tmp_path: Path,
) -> None:
    """The run `ml train` spools, its script's mltrack calls spool into it (values, child
    runs), and `ml sync` delivers all of it once the server is back."""
    from mltrack._process import kill_group
    from mltrack.localserver import start_server

    script = tmp_path / "offline_train.py"
    script.write_text(OFFLINE_TRAIN_SCRIPT)
    server = start_server(root=tmp_path / "server")
    try:
        kill_group(server.process)  # down; its store stays
        env = {"MLFLOW_TRACKING_URI": server.url, "MLTRACK_EXPERIMENT": "offline-train"}
        out = real_ml("train", str(script), cwd=tmp_path, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "the run is spooled" in out.stdout and "finished run local-" in out.stdout
        server.restart()
        synced = ml("sync", cwd=tmp_path, env=env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        client = MlflowClient(server.url)
        experiment = client.get_experiment_by_name("offline-train")
        runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
        parent, child = runs["offline_train"], runs["evaluate"]
        assert parent.info.status == "FINISHED" and child.info.status == "FINISHED"
        history = client.get_metric_history(parent.info.run_id, "loss")
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == [0.5, 0.25]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.data.metrics == {"result": 0.9}
    finally:
        server.stop()


def test_train_failing_script_marks_run_failed(experiment: str, tmp_path: Path) -> None:
    script = tmp_path / "boom.py"
    script.write_text("raise SystemExit(3)\n")
    out = ml("train", str(script), cwd=tmp_path, env={"MLTRACK_EXPERIMENT": experiment})
    assert out.returncode == 2
    assert "exited with code 3" in out.stderr
    client = MlflowClient()
    exp = client.get_experiment_by_name(experiment)
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FAILED"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_train_stopped_by_a_signal_ends_the_run_killed_and_the_script_with_it(
    experiment: str, tmp_path: Path, sig: int
) -> None:
    # `docker stop`, `kubectl delete` and CI timeouts send SIGTERM: it must not leave the
    # run RUNNING and the script going, as Python's default for SIGTERM would.
    script = tmp_path / "slow.py"
    script.write_text("import os, time\nprint('pid', os.getpid(), flush=True)\ntime.sleep(120)\n")
    proc = subprocess.Popen(
        [str(ML), "train", str(script)],
        cwd=tmp_path,
        env={**os.environ, "MLTRACK_EXPERIMENT": experiment},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    child = next(int(line.split()[1]) for line in proc.stdout if line.startswith("pid "))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else 128 + sig), err
    assert "Traceback" not in err, err
    assert not running(child), "the training script outlived `ml train`"
    client = MlflowClient()
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    assert run.info.status == "KILLED"
    log = client.download_artifacts(run.info.run_id, "train.log", str(tmp_path))
    assert Path(log).read_text().startswith("pid "), "what it printed until then is kept"


def test_runs_lists_json(experiment: str, tmp_path: Path) -> None:
    import mltrack

    with mltrack.run("listed") as r:
        r.log_metric("acc", 0.9)
    env = {"MLTRACK_EXPERIMENT": experiment}
    out = ml("runs", "--format", "json", cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert rows[0]["id"] == r.id and rows[0]["metrics"] == {"acc": 0.9}
    # The start in ISO 8601 with its zone (UTC), as MLflow holds it, to the second.
    held = MlflowClient().get_run(r.id).info.start_time
    started = dt.datetime.fromisoformat(rows[0]["start"])
    assert started.utcoffset() == dt.timedelta(0), rows[0]["start"]
    assert int(started.timestamp()) == held // 1000
    # The duration a number of seconds (the table's "0.6s" is for people).
    info = MlflowClient().get_run(r.id).info
    assert rows[0]["duration_s"] == (info.end_time - info.start_time) / 1000
    # The old spelling still works for existing scripts: the same output, nothing on stderr.
    alias = ml("runs", "--json", cwd=tmp_path, env=env)
    assert alias.returncode == 0 and alias.stderr == "", alias.stderr
    assert json.loads(alias.stdout) == rows and alias.stdout == out.stdout
    assert ml("runs", "-f", "JSON", cwd=tmp_path, env=env).stdout == out.stdout
    table = ml("runs", cwd=tmp_path, env={"MLTRACK_EXPERIMENT": experiment})
    assert "listed" in table.stdout and "acc=0.9" in table.stdout

    # In an 80-column terminal, a metric's value is never cut in two.
    with mltrack.run("narrow") as r:
        r.log_metric("accuracy", 0.97777)
    narrow = ml("runs", "--limit", "1", cwd=tmp_path, env=env | {"COLUMNS": "80"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80, narrow.stdout
    assert "accuracy=0.9778" in narrow.stdout, narrow.stdout


@pytest.mark.parametrize("command", [["runs"], ["models"], ["models", "some-model"]])
def test_listing_format_errors_are_one_line_exit_2(command: list[str], tmp_path: Path) -> None:
    bad = ml(*command, "--format", "xml", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == ["error: unknown --format 'xml': use one of table, json"]
    both = ml(*command, "--json", "--format", "table", cwd=tmp_path)
    assert both.returncode == 2
    assert both.stderr.splitlines() == [
        "error: --json means --format json; drop one of --json and --format table"
    ]


def _help_pages() -> dict[str, str]:
    """``ml ... --help`` of every command and group, by command line."""
    import typer.main

    from mltrack.cli import app

    root = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in root.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    pages = {}
    for path in paths:
        shown = ml_in_process(*path, "--help", env={"COLUMNS": "120"})
        assert shown.returncode == 0, (path, shown.stderr)
        pages[" ".join(["ml", *path])] = shown.stdout
    return pages


def _negative_flags() -> set[str]:
    """The negative forms of every command's flags (``--no-serve-artifacts``)."""
    import typer.main

    from mltrack.cli import app

    found: set[str] = set()
    commands = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        commands += getattr(command, "commands", {}).values()
        found.update(name for param in command.params for name in param.secondary_opts)
    return found


def test_help_layout_is_applied_when_help_is_shown_not_at_start_up() -> None:
    """mltrack's help layouts patch typer.rich_utils (80 ms of imports, rich's Markdown
    with it): a command that prints no help does not import it; help still has them."""
    code = "import sys\nimport mltrack.cli\nprint('typer.rich_utils' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False"], done.stderr[-2000:]
    shown = ml_in_process("server", "--help", env={"COLUMNS": "80"}).stdout
    assert "--default-permission " in shown, shown  # whole: the layout is applied


def test_help_shows_value_types_one_way() -> None:
    """``<str>``, ``<path>``, ``<url>``: no Python annotation, no ``<int range>``, no ``URL``."""
    pages = _help_pages()
    assert len(pages) > 20, sorted(pages)
    negatives = _negative_flags()
    assert "--no-serve-artifacts" in negatives, negatives
    typed: set[str] = set()
    for command, page in pages.items():
        assert "<list[" not in page and "range>" not in page, f"{command} --help:\n{page}"
        # An option row: its names, its type in a column of its own (a flag has none:
        # one space follows the first word of its help), then the help. A flag's negative
        # form (`--no-serve-artifacts`) is on the next line, beside more of its help.
        for names, shown in re.findall(
            r"^│ +((?:-[-\w]+ +)+)(<[^>]*>|[^\s<-]\S*)(?: {2,}| \[)", page, re.M
        ):
            if names.split()[0] in negatives:
                continue  # a flag's negative form, on the line under the flag
            assert re.fullmatch(r"<[a-z|]+>", shown), f"{command} {names}: {shown}"
            typed.add(names.split()[0])
    assert {"--format", "--root", "--check", "--limit", "--port"} <= typed, sorted(typed)
    docs_run = pages["ml docs run"]
    assert re.search(r"paths\.\.\. +<path> ", docs_run), docs_run
    assert re.search(r"--examples-dir +<dir> ", docs_run), docs_run
    assert re.search(r"--jobs +-j +<int> \[x>=1\]", docs_run), docs_run
    assert re.search(r"--check +<url> ", pages["ml server"]), pages["ml server"]
    for command in ("ml runs", "ml models"):  # --json is the hidden old spelling
        assert re.search(r"--format +-f +<table\|json> ", pages[command]), pages[command]
        assert "--json" not in pages[command], pages[command]


def test_bad_option_value_and_unknown_command_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = ml("runs", "--limit", "abc", cwd=tmp_path)
    assert bad.returncode == 2
    assert "Invalid value for '--limit'" in bad.stderr and "Traceback" not in bad.stderr
    unknown = ml("nosuch", cwd=tmp_path)
    assert unknown.returncode == 2
    assert "No such command 'nosuch'" in unknown.stderr and "Traceback" not in unknown.stderr
