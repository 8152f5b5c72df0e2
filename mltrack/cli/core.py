"""Core commands: ``ml doctor``, ``ml train``, ``ml runs``, ``ml sync``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mltrack.cli._app import (
    Stopped,
    app,
    console,
    err_console,
    json_alias_option,
    list_format,
    list_format_option,
    stop_on_signal,
    user_environment,
)
from mltrack.cli._tables import headline_metrics
from mltrack.errors import ConfigError, MltrackError

if TYPE_CHECKING:
    from mltrack.tracking import RunHandle


# --------------------------------------------------------------------------- doctor
@dataclass
class Check:
    """One line of ``ml doctor``."""

    name: str
    status: str  # ok | warn | fail
    detail: str


def _check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "fail", f"{sys.version.split()[0]} ({sys.executable})")


def _check_mlflow() -> Check:
    try:
        found = version("mlflow")
    except PackageNotFoundError:
        return Check("mlflow", "fail", "not installed: `uv sync` or `pip install mltrack`")
    major_minor = tuple(int(p) for p in found.split(".")[:2])
    ok = (3, 17) <= major_minor < (3, 18)
    return Check("mlflow", "ok" if ok else "warn", f"{found} (tested with 3.17.x)")


def _check_config() -> tuple[Check, object | None]:
    from mltrack.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        return Check("config", "fail", str(exc)), None
    from mltrack.config import unknown_env_vars

    where = str(settings.config_path) if settings.config_path else "no .mltrack.yml (defaults)"
    unknown = unknown_env_vars()
    if unknown:
        return Check(
            "config", "warn", f"{where}; ignored unknown variables: {', '.join(unknown)}"
        ), settings
    return Check("config", "ok", where), settings


def _check_tracking(settings: object | None) -> list[Check]:
    from mltrack.config import Settings
    from mltrack.store import tracking_store
    from mltrack.transport import TrackingTransport, is_http_uri
    from mltrack.uris import redact_uri

    if not isinstance(settings, Settings):
        return [Check("tracking", "fail", "config invalid; fix it first")]
    store = tracking_store(settings, apply=False)
    uri = store.uri
    shown = f"{redact_uri(uri)} ({store.describe()})"  # a URI may carry a password
    if not is_http_uri(uri):
        return [Check("tracking", "ok", f"{shown}; no server needed")]
    # MLflow's client takes user:password@ in the URI; the urllib probe does not.
    reachable = TrackingTransport(uri).is_reachable()
    checks = [
        Check(
            "tracking",
            "ok" if reachable else "fail",
            f"{shown} {'answers /health' if reachable else 'is unreachable: start it or fix MLFLOW_TRACKING_URI'}",
        )
    ]
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if user and not os.environ.get("MLFLOW_TRACKING_PASSWORD"):
        checks.append(
            Check("auth", "fail", f"basic auth as {user!r}: MLFLOW_TRACKING_PASSWORD missing")
        )
    elif reachable:
        checks.append(_check_auth(uri))
    elif user or os.environ.get("MLFLOW_TRACKING_TOKEN"):
        where = f"basic auth as {user!r}" if user else "bearer token from MLFLOW_TRACKING_TOKEN"
        checks.append(Check("auth", "warn", f"{where}; not verified (server unreachable)"))
    else:
        checks.append(Check("auth", "ok", "none configured"))
    return checks


def _check_auth(uri: str) -> Check:
    """Ask the server whom the configured credentials sign in as (one request)."""
    from mltrack.teamserver import auth_status

    result = auth_status(uri)
    return Check("auth", "ok" if result.ok else "fail", result.detail)


def _check_git() -> Check:
    from mltrack.gitinfo import git_info

    if shutil.which("git") is None:
        return Check("git", "warn", "git not installed: runs will not record commits")
    info = git_info()
    if info is None:
        return Check("git", "warn", "not inside a git repository with commits")
    state = "dirty" if info.dirty else "clean"
    return Check("git", "ok", f"{info.branch or 'detached'} @ {info.commit[:8]} ({state})")


def _check_frameworks() -> Check:
    from mltrack.frameworks import FRAMEWORKS

    present = [name for name in FRAMEWORKS if find_spec(name) is not None]
    return Check("frameworks", "ok", ", ".join(present) if present else "none installed")


def _check_chromium() -> Check:
    for candidate in (
        os.environ.get("MLTRACK_CHROMIUM"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ):
        if candidate and Path(candidate).exists():
            return Check("chromium", "ok", f"{candidate} (for docs browser tests)")
    return Check(
        "chromium", "warn", "not found: `apt-get install chromium` for the docs browser tests"
    )


def _check_spool(settings: object | None) -> Check:
    from mltrack.config import Settings
    from mltrack.spool import spools_under

    if not isinstance(settings, Settings):
        return Check("spool", "warn", "config invalid")
    from mltrack.logging import spool_root

    waiting = sum(s.pending_values() for s in spools_under(spool_root()))
    if waiting:
        return Check("spool", "warn", f"{waiting} values wait in {spool_root()}: run `ml sync`")
    return Check("spool", "ok", "empty")


def run_checks() -> list[Check]:
    """Every ``ml doctor`` check, in display order."""
    config_check, settings = _check_config()
    return [
        _check_python(),
        _check_mlflow(),
        config_check,
        *_check_tracking(settings),
        _check_git(),
        _check_frameworks(),
        _check_chromium(),
        _check_spool(settings),
    ]


@app.command()
def doctor() -> None:
    """Check the environment: Python, MLflow, config, tracking server, git, frameworks.

    Exits with code 1 when a check fails (warnings do not fail).
    """
    checks = run_checks()
    table = Table(title="mltrack doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    styles = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[bold red]FAIL[/]"}
    for check in checks:
        table.add_row(check.name, styles[check.status], check.detail)
    console.print(table)
    failed = [c.name for c in checks if c.status == "fail"]
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed:[/] {', '.join(failed)}")
        raise typer.Exit(1)
    console.print("[green]all checks passed[/]")


# --------------------------------------------------------------------------- train
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    script: Path = typer.Argument(..., help="Python training script to run."),
    name: str = typer.Option(None, "--name", "-n", help="Run name (default: the script's name)."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Experiment name."),
) -> None:
    """Run a training script under a tracked run, streaming its output.

    Arguments after the script are passed to it. Inside the script, `mltrack.log_metric`
    and `mlflow` calls log to the same run (MLFLOW_RUN_ID is set) and `@track` functions
    become child runs; while the server is unreachable mltrack's calls are spooled with
    the run (`ml sync` sends them). The
    script's output is saved as the run artifact `train.log`. Ctrl-C or SIGTERM stops
    the script too and marks the run KILLED (exit status 130 or 143).
    """
    if not script.is_file():
        raise MltrackError(f"script not found: {script}; pass the path of a Python file")
    args = list(ctx.args)
    # SIGTERM (docker stop, kubectl delete, a CI timeout) stops like Ctrl-C: the script
    # gets the signal, its output is kept and the run ends KILLED, not left RUNNING.
    signal.signal(signal.SIGTERM, stop_on_signal)
    try:
        handle = _train(script, args, name, experiment)
    except Stopped as exc:
        err_console.print(f"stopped by {signal.Signals(exc.signum).name}: the run is KILLED")
        raise typer.Exit(128 + exc.signum) from None
    console.print(f"[green]finished[/] run {handle.id}")


def _train(script: Path, args: list[str], name: str | None, experiment: str | None) -> RunHandle:
    import mltrack
    from mltrack.uris import redact_uri

    with mltrack.run(
        name or script.stem,
        experiment=experiment,
        params={"script": str(script), "args": " ".join(args)},
    ) as handle:
        if handle.offline:
            console.print("[yellow]tracking server unreachable: the run is spooled[/]")
        # The script's mltrack.log_metric calls (and mlflow's, when the server is up) log
        # to this run; while it is spooled, under its local id, replayed with it.
        env = {
            **user_environment(),
            "MLFLOW_TRACKING_URI": handle.tracking_uri,
            "MLFLOW_RUN_ID": handle.id,
        }
        shown = redact_uri(handle.tracking_uri)  # the URI may carry a password
        console.print(f"[bold]run[/] {handle.id}  [dim]{shown}[/]", highlight=False)
        output: list[str] = []
        try:
            code = _stream([sys.executable, "-u", str(script), *args], env, output)
        finally:  # stopped too: what the script printed until then
            _log_text_artifact(handle, "".join(output), "train.log")
        if code != 0:
            raise MltrackError(f"{script} exited with code {code}; the run is marked FAILED")
    return handle


def _stream(cmd: list[str], env: dict[str, str], lines: list[str]) -> int:
    """Run ``cmd``, echo its output live and append it to ``lines``; its exit code.

    Ctrl-C, or a :class:`Stopped` signal, is passed on to ``cmd`` and re-raised once it
    has ended (SIGKILL after 10 s).
    """
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)  # first: what the terminal shows is in the log, stopped or not
            sys.stdout.write(line)
            sys.stdout.flush()
        return proc.wait()
    except KeyboardInterrupt as exc:
        proc.send_signal(exc.signum if isinstance(exc, Stopped) else signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def _log_text_artifact(handle: object, text: str, name: str) -> None:
    import mlflow

    from mltrack.tracking import RunHandle

    if not isinstance(handle, RunHandle) or handle.offline or not text:
        return
    try:
        mlflow.MlflowClient(handle.tracking_uri).log_text(handle.id, text, name)
    except Exception as exc:  # the log is a convenience; never fail the run for it
        console.print(f"[yellow]could not store {name}: {exc}[/]")


# --------------------------------------------------------------------------- runs
def _fmt_time(ms: int | None) -> str:
    """ISO 8601 in UTC (``2026-12-07T13:02:38+00:00``): unambiguous for scripts."""
    return "" if not ms else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _duration_s(start: int | None, end: int | None) -> float | None:
    """Seconds from start to end (milliseconds since the epoch); None while running."""
    return None if not start or not end else (end - start) / 1000


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds:.1f}s" if seconds < 120 else f"{seconds / 60:.1f}m"


@app.command()
def runs(
    ctx: typer.Context,
    experiment: str = typer.Option(None, "--experiment", "-e", help="Only this experiment."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, max=1000, help="How many runs."),
    fmt: str = list_format_option(),
    json_alias: bool = json_alias_option(),
) -> None:
    """List recent runs with status, duration and metrics."""
    import json

    kind = list_format(ctx, fmt, json_alias)

    from mlflow import MlflowClient

    from mltrack.store import tracking_store
    from mltrack.tracking import resolve_experiments

    tracking_store()
    client = MlflowClient()
    experiments = resolve_experiments(client, experiment)
    found = client.search_runs(
        list(experiments), order_by=["attributes.start_time DESC"], max_results=limit
    )
    rows = [
        {
            "id": r.info.run_id,
            "name": r.info.run_name,
            "experiment": experiments.get(r.info.experiment_id, r.info.experiment_id),
            "status": r.info.status,
            "start": _fmt_time(r.info.start_time),
            "duration_s": _duration_s(r.info.start_time, r.info.end_time),
            "metrics": dict(r.data.metrics),
        }
        for r in found
    ]
    if kind == "json":
        console.print_json(json.dumps(rows))
        return
    if not rows:
        console.print("no runs yet: decorate a function with @mltrack.track and call it")
        return
    # One experiment: named in the title, not repeated on every row (room for the metrics).
    names = {row["experiment"] for row in rows}
    single = names.pop() if len(names) == 1 else None
    title = f"runs ({len(rows)})" + (f" in {single}" if single else "")
    columns = ["id", "name", "status", "start (UTC)", "duration", "metrics"]
    if single is None:
        columns.insert(2, "experiment")
    table = Table(title=title)
    for column in columns:
        # Values are never cut in two: only names and the metrics list may wrap.
        wraps = column in ("name", "experiment", "metrics")
        table.add_column(column, overflow="fold", no_wrap=not wraps)
    colours = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}
    for row in rows:
        shown = headline_metrics(row["metrics"], limit=4)
        status = row["status"]
        cells = {
            "id": row["id"][:8],
            "name": row["name"] or "",
            "experiment": row["experiment"],
            "status": f"[{colours.get(status, 'white')}]{status}[/]",
            # To the minute (JSON keeps the seconds): room for a metric at 80 columns.
            "start (UTC)": row["start"][: len("YYYY-MM-DDTHH:MM")].replace("T", " "),
            "duration": _fmt_duration(row["duration_s"]),
            "metrics": ", ".join(f"{k}={row['metrics'][k]:.4g}" for k in shown),
        }
        table.add_row(*(cells[column] for column in columns))
    console.print(table)


# --------------------------------------------------------------------------- sync
@app.command()
def sync() -> None:
    """Replay metrics and runs spooled while the tracking server was unreachable."""
    from mltrack.logging import spool_root
    from mltrack.spool import spools_under
    from mltrack.store import tracking_store
    from mltrack.transport import BatchRejected, ServerUnreachable, TrackingTransport
    from mltrack.uris import strip_userinfo

    root = spool_root()
    spools = [s for s in spools_under(root) if not s.is_empty()]
    if not spools:
        console.print(f"nothing to sync ({root} is empty)")
        return
    # A spool keeps its server's URI without the password; the configured URI brings it
    # (MLFLOW_TRACKING_USERNAME/PASSWORD apply to any server).
    configured = tracking_store(apply=False).uri
    configured_server = strip_userinfo(configured)[0]
    failed = 0
    for spool in spools:
        started = time.monotonic()
        same = configured_server == spool.tracking_uri
        transport = TrackingTransport(configured if same else spool.tracking_uri)
        try:
            result = spool.replay(transport, rejected_error=BatchRejected)
        except ServerUnreachable as exc:
            console.print(
                f"[red]{spool.tracking_uri}: still unreachable[/] ({exc})", highlight=False
            )
            failed += 1
            continue
        console.print(
            f"{spool.tracking_uri}: sent {result.values_sent} values in {result.batches_sent} "
            f"batches, created {result.runs_created} runs, finished {result.runs_finished} "
            f"({time.monotonic() - started:.1f}s)"
        )
        for rejected in result.rejected:
            console.print(
                f"[yellow]rejected by the server, kept in {spool.rejected_dir}:[/] {rejected}"
            )
        if result.remaining:
            failed += 1
    if failed:
        raise MltrackError(
            f"{failed} tracking server(s) could not be synced; retry `ml sync` later"
        )
