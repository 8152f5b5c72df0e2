"""The buffered logger: batching, and nothing lost or duplicated when the server dies.

The logic runs against an in-memory server; a few tests stop and restart a real MLflow
server (and `ml sync`, and a process's exit) to show the same end to end.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlflow
import pytest
from mlflow import MlflowClient

import mltrack
from mltrack.config import LoggingSettings
from mltrack.errors import MltrackError
from mltrack.localserver import ThrowawayServer, free_port, kill_group, start_server
from mltrack.logging import BufferedLogger, get_logger
from mltrack.transport import TrackingTransport
from tests._helpers import closed_port, run_ml
from tests.core._memory_sender import MemorySender


def _ml(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return run_ml(*args, cwd=cwd, env=env)


# --------------------------------------------------------------------------- logic
# The logger's own logic against an in-memory server (tests/core/_memory_sender.py):
# what a batch holds, when it goes, what is spooled and in which order it is replayed.


def _until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for: {what}"
        time.sleep(0.02)


@pytest.fixture
def memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Memory]:
    """A logger on an in-memory server; closed after the test."""
    monkeypatch.chdir(tmp_path)  # spool paths in messages are shown relative to it
    made: list[BufferedLogger] = []

    def make(sender: MemorySender | None = None, **settings: Any) -> BufferedLogger:
        logger = BufferedLogger(
            MEMORY_URI, LoggingSettings(**settings), tmp_path / "spool", sender or MemorySender()
        )
        made.append(logger)
        return logger

    yield make
    for logger in made:
        logger.close(timeout=10)


_Memory = Callable[..., BufferedLogger]
MEMORY_URI = "http://memory.invalid:5000"


def test_only_full_batches_go_until_a_flush_then_the_rest(memory: _Memory) -> None:
    logger = memory(batch_size=100, flush_interval_s=3600)
    sender = logger.transport
    assert isinstance(sender, MemorySender)
    for _ in range(1050):
        logger.log("run-a", "v", 1.0)  # no step: each key counts its own, from 0
    logger.log("run-a", "w", 2.0)
    _until(lambda: sum(sender.sizes()) == 1000, "the 10 full batches")
    time.sleep(0.2)  # nothing else is due for an hour: the 51 left wait
    assert sender.sizes() == [100] * 10
    assert logger.flush(timeout=30)
    assert sorted(sender.sizes()[10:]) == [51]  # the rest, in one partial batch
    assert sorted(sender.steps("run-a")) == list(range(1050))  # each once
    assert sender.steps("run-a", "w") == [0]
    assert logger.peak_queue >= 100 and logger.spool.is_empty()


def test_batches_hold_one_run_each(memory: _Memory) -> None:
    logger = memory(batch_size=1000, flush_interval_s=3600)
    sender = logger.transport
    assert isinstance(sender, MemorySender)
    for step in range(30):
        logger.log(f"run-{step % 3}", "v", float(step), step=step)
    assert logger.flush(timeout=30)
    assert sorted(b.run_id for b in sender.batches) == ["run-0", "run-1", "run-2"]
    assert sender.steps("run-1") == list(range(1, 30, 3))


def test_a_partial_batch_waits_the_flush_interval_then_goes_by_itself(memory: _Memory) -> None:
    logger = memory(batch_size=1000, flush_interval_s=0.3)
    sender = logger.transport
    assert isinstance(sender, MemorySender)
    started = time.monotonic()
    logger.log("run-a", "slow", 1.0)
    _until(lambda: bool(sender.batches), "the lone value, sent without a flush")
    assert time.monotonic() - started >= 0.3  # it waited for more values first
    assert sender.steps("run-a", "slow") == [0]


def test_outage_spools_in_order_and_the_thread_replays_when_the_server_is_back(
    memory: _Memory, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = MemorySender()
    # One batch in flight: the spool is written in logging order. (With several, batches
    # are spooled as their senders finish; MLflow keys values, so that order is moot.)
    logger = memory(
        sender, batch_size=100, flush_interval_s=0.05, retry_interval_s=0.1, max_in_flight=1
    )
    for step in range(300):
        logger.log("run-a", "v", float(step), step=step)
    assert logger.flush(timeout=30)
    sender.up = False
    for step in range(300, 800):
        logger.log("run-a", "v", float(step), step=step)
    assert not logger.flush(timeout=30)  # spooled, not sent
    assert logger.offline and logger.spool.pending_values() == 500
    _until(lambda: sender.probes > 0 and "unreachable" in capsys.readouterr().err, "outage line")
    sender.up = True
    _until(lambda: not logger.offline and logger.spool.is_empty(), "the replay")
    # In order, each value once: what was sent before, then the spool, batch by batch.
    assert sender.steps("run-a") == list(range(800))
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mltrack:")]
    assert lines == [f"mltrack: tracking server {MEMORY_URI} is back: sent the 500 spooled values"]


def test_catch_up_replays_at_once_when_the_server_answers_again(memory: _Memory) -> None:
    """Read-after-write: no waiting for the thread's next probe (an hour away here)."""
    sender = MemorySender()
    logger = memory(sender, batch_size=50, retry_interval_s=3600)
    sender.up = False
    for step in range(120):
        logger.log("run-a", "v", float(step), step=step)
    assert not logger.catch_up(timeout=30)  # still down: the values wait in the spool
    assert logger.spool.pending_values() == 120 and not sender.batches
    sender.up = True
    assert logger.catch_up(timeout=30)
    assert sorted(sender.steps("run-a")) == list(range(120)) and logger.spool.is_empty()


def test_a_rejected_batch_is_put_aside_and_the_others_go_on(
    memory: _Memory, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = MemorySender()
    sender.refuse_key = "bad"
    logger = memory(sender, batch_size=100)
    logger.log("run-bad", "bad", 1.0)
    logger.log("run-ok", "v", 1.0)
    assert logger.flush(timeout=30)
    assert [b.run_id for b in sender.batches] == ["run-ok"] and not logger.offline
    (aside,) = logger.spool.rejected_dir.glob("*.json")
    assert "run-bad" in aside.read_text()
    line = capsys.readouterr().err.strip()
    assert line.startswith("mltrack: INVALID_PARAMETER_VALUE: bad metric 'bad'; the batch is kept")


def test_close_sends_what_is_queued_exactly_once(memory: _Memory) -> None:
    """What the exit hook does: 5,000 values, 200 of them in no full batch, nothing due."""
    logger = memory(batch_size=800, flush_interval_s=3600)
    sender = logger.transport
    assert isinstance(sender, MemorySender)
    for step in range(5000):
        logger.log("run-a", "v", float(step), step=step)
    logger.close(timeout=30)
    assert sorted(sender.steps("run-a")) == list(range(5000))
    assert sorted(sender.sizes()) == [200] + [800] * 6
    assert logger.spool.is_empty()
    with pytest.raises(MltrackError, match="the metric logger is closed"):
        logger.log("run-a", "v", 1.0)


def test_close_with_the_server_down_keeps_everything_in_the_spool(memory: _Memory) -> None:
    sender = MemorySender()
    sender.up = False
    logger = memory(sender, batch_size=100, flush_interval_s=3600)
    for step in range(250):
        logger.log("run-a", "v", float(step), step=step)
    logger.close(timeout=30)
    assert logger.spool.pending_values() == 250 and not sender.batches


# --------------------------------------------------------------------------- real server


EXIT_SCRIPT = """
import mlflow

import mltrack

run = mlflow.start_run(run_name="exit-flush")  # ended by MLflow's own exit hook
print(run.info.run_id, flush=True)
for i in range(5000):
    mltrack.log_metric("v", float(i), step=i)
# No flush, no end of the run: the interpreter exits here.
"""


def test_values_queued_at_exit_are_flushed_once(experiment: str, tmp_path: Path) -> None:
    script = tmp_path / "exit_flush.py"
    script.write_text(EXIT_SCRIPT)
    env = {
        **os.environ,
        # 5,000 = 6 full batches of 800 + 200 that only the exit hook sends (nothing is
        # due for an hour).
        "MLTRACK_LOGGING__BATCH_SIZE": "800",
        "MLTRACK_LOGGING__FLUSH_INTERVAL_S": "3600",
    }
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[0]
    history = MlflowClient().get_metric_history(run_id, "v")
    assert len(history) == 5000
    assert sorted(m.step for m in history) == list(range(5000))
    assert sum(m.value for m in history) == sum(range(5000))
    assert list((tmp_path / ".mltrack" / "spool").rglob("*.json")) == []  # nothing spooled


def test_batches_respect_mlflow_per_request_limits(experiment: str, tracking_uri: str) -> None:
    """250 params, 150 tags and 1,500 metrics: more than one log-batch request may hold."""
    params = {f"p{i:03d}": i for i in range(250)}
    tags = {f"t{i:03d}": f"tag {i}" for i in range(150)}
    more_tags = {f"u{i:03d}": f"later {i}" for i in range(150)}
    metrics = {f"m{i:04d}": i / 2 for i in range(1500)}
    with mltrack.run("wide", params=params, tags=tags, autolog=False) as run:
        run.log_metrics(metrics, step=0)
        run.set_tags(more_tags)
        run.log_params({f"q{i:03d}": "x" * 10 for i in range(250)})
    stored = MlflowClient().get_run(run.id).data
    assert stored.params == {
        **{k: str(v) for k, v in params.items()},
        **{f"q{i:03d}": "x" * 10 for i in range(250)},
    }
    assert {k: v for k, v in stored.tags.items() if k[0] in "tu" and k[1:].isdigit()} == {
        **tags,
        **more_tags,
    }
    assert stored.metrics == metrics

    # One batch with all three kinds, as a replay sends it: split into 3 requests of at
    # most 100 params, 100 tags and 1,000 entities in all.
    from mltrack.spool import SpoolBatch
    from mltrack.transport import TrackingTransport

    transport = TrackingTransport(tracking_uri)
    other = MlflowClient().create_run(MlflowClient().get_run(run.id).info.experiment_id)
    batch = SpoolBatch(
        other.info.run_id,
        metrics=[(k, v, 1000, 3) for k, v in metrics.items()],
        params=[(k, str(v)) for k, v in params.items()],
        tags=list(tags.items()),
    )
    transport.send(batch)
    assert transport.requests["log-batch"] == 3
    data = MlflowClient().get_run(other.info.run_id).data
    assert data.params == {k: str(v) for k, v in params.items()}
    assert {k: v for k, v in data.tags.items() if not k.startswith("mlflow.")} == tags
    assert data.metrics == metrics


def test_log_metric_without_run_is_a_clear_error(tracking_uri: str) -> None:
    from mltrack.errors import MltrackError

    with pytest.raises(MltrackError, match="no active run"):
        mltrack.log_metric("x", 1.0)


@dataclass
class _Outage:
    server: ThrowawayServer
    project: Path
    run_id: str = ""
    lines: list[str] = field(default_factory=list)  # what mltrack printed on stderr

    def assert_all_3000_arrived_once(self) -> None:
        client = MlflowClient(self.server.url)
        history = client.get_metric_history(self.run_id, "x")
        assert len(history) == 3000
        assert sorted(m.step for m in history) == list(range(3000))
        assert sum(m.value for m in history) == sum(range(3000))
        assert client.get_run(self.run_id).info.status == "FINISHED"  # the deferred end, too


def _mltrack_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("mltrack:")]


def _outage_line(url: str, what: str) -> str:
    """The exact shape of the outage line (a regular expression)."""
    return (
        rf"mltrack: tracking server {re.escape(url)} unreachable: {what} spooled to "
        r"\.mltrack/spool/[0-9a-f]{12}; (they|it) will be sent when it is back"
    )


@pytest.fixture
def outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[_Outage]:
    """A run that logs 1,000 values, loses its server (store kept), then logs 2,000 more."""
    server = start_server(root=tmp_path / "server")
    try:
        project = tmp_path / "project"
        project.mkdir()
        monkeypatch.chdir(project)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLTRACK_LOGGING__RETRY_INTERVAL_S", "0.3")
        monkeypatch.setenv("MLTRACK_LOGGING__FLUSH_INTERVAL_S", "0.1")
        mlflow.set_tracking_uri(server.url)
        outage = _Outage(server, project)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with mltrack.run("resilient", experiment="resilience", autolog=False) as run:
                outage.run_id = run.id
                for i in range(1000):
                    mltrack.log_metric("x", float(i), step=i)
                assert mltrack.flush(timeout=60)
                kill_group(server.process)  # the server dies; its store stays
                for i in range(1000, 3000):
                    mltrack.log_metric("x", float(i), step=i)
                assert not mltrack.flush(timeout=60)  # spooled, not sent
        assert not [str(w.message) for w in caught if "mltrack" in str(w.message)]
        outage.lines = _mltrack_lines(capsys)
        yield outage
    finally:
        server.stop()
        mlflow.set_tracking_uri(None)


def _assert_outage_reported(outage: _Outage) -> None:
    """One line when the run ends (after, maybe, one from the first failed probe)."""
    *first, last = outage.lines
    url = outage.server.url
    status = r"2,000 values and the status of run 'resilient' \(FINISHED\)"
    assert re.fullmatch(_outage_line(url, status), last), last
    assert len(first) <= 1 and all(
        re.fullmatch(_outage_line(url, r"[\d,]+ values"), line) for line in first
    ), outage.lines
    for line in outage.lines:
        assert "warn" not in line and ".py" not in line and "\n" not in line


@pytest.mark.slow
def test_server_stopped_mid_run_nothing_lost_after_replay(outage: _Outage) -> None:
    _assert_outage_reported(outage)
    spool = get_logger(outage.server.url).spool
    assert spool.pending_values() > 0

    outage.server.restart()
    env = {"MLFLOW_TRACKING_URI": outage.server.url}
    result = _ml("sync", env=env, cwd=outage.project)
    assert result.returncode == 0, result.stderr
    mltrack.flush(timeout=60)
    outage.assert_all_3000_arrived_once()
    assert spool.is_empty()
    # Replaying again changes nothing: no duplicates.
    again = _ml("sync", env=env, cwd=outage.project)
    assert again.returncode == 0 and "nothing to sync" in again.stdout
    assert len(MlflowClient(outage.server.url).get_metric_history(outage.run_id, "x")) == 3000


@pytest.mark.slow
def test_run_started_while_unreachable_is_created_by_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)

    @mltrack.track
    def evaluate(split: str = "val") -> dict:
        return {"f1": 0.75}

    @mltrack.track(experiment="offline-exp")
    def train(lr: float = 0.5) -> dict:
        for step in range(50):
            mltrack.log_metric("loss", 1 / (step + 1))
        evaluate()  # a nested run of a spooled run is spooled too, under its parent
        return {"accuracy": 0.8}

    assert train() == {"accuracy": 0.8}  # training is never stopped by the server
    lines = _mltrack_lines(capsys)
    # the child ends first, then the parent; each line counts that run's values: the child
    # a param and a metric, the parent a param, 50 losses and a metric
    assert len(lines) == 2, lines
    assert re.fullmatch(
        _outage_line(url, r"2 values and the status of run 'evaluate' \(FINISHED\)"), lines[0]
    ), lines[0]
    assert re.fullmatch(
        _outage_line(url, r"52 values and the status of run 'train' \(FINISHED\)"), lines[1]
    ), lines[1]

    server = start_server(root=tmp_path / "server", port=port)
    try:
        result = _ml("sync", env={"MLFLOW_TRACKING_URI": url}, cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        # Either `ml sync` or this process's logger (which probes the server) replayed it;
        # the spool lock makes sure the run exists exactly once.
        mltrack.flush(timeout=60)
        client = MlflowClient(url)
        exp = client.get_experiment_by_name("offline-exp")
        runs = {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}
        assert sorted(runs) == ["evaluate", "train"]
        run, child = runs["train"], runs["evaluate"]
        assert child.data.tags["mlflow.parentRunId"] == run.info.run_id
        assert child.data.metrics == {"f1": 0.75} and child.info.status == "FINISHED"
        assert run.info.run_name == "train"
        assert run.info.status == "FINISHED"
        assert run.data.params == {"lr": "0.5"}
        assert run.data.metrics["accuracy"] == 0.8
        assert run.data.tags["mltrack.spooled"] == "true"
        assert len(client.get_metric_history(run.info.run_id, "loss")) == 50
    finally:
        server.stop()
        mlflow.set_tracking_uri(None)


def test_reachability_probe_accepts_credentials_in_the_uri(mlflow_server: ThrowawayServer) -> None:
    """MLflow's client takes ``http://user:password@host``; the health probe must too."""
    host = mlflow_server.url.removeprefix("http://")
    assert TrackingTransport(f"http://bob:s3cret@{host}").is_reachable()
    with closed_port() as port:
        assert not TrackingTransport(f"http://bob:s3cret@127.0.0.1:{port}").is_reachable()


OFFLINE_EXIT_SCRIPT = """
import mltrack

with mltrack.run("offline-exit", experiment="nowhere") as run:
    for i in range(10):
        mltrack.log_metric("loss", 1 / (i + 1))
"""


def test_outage_lines_of_a_process_are_clean_and_one_line_each(tmp_path: Path) -> None:
    """The real stderr of a process that never reached its server: no warnings machinery
    (file path, source line echo), one line per event, credentials never shown."""
    script = tmp_path / "offline_exit.py"
    script.write_text(OFFLINE_EXIT_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    with closed_port() as port:
        url = f"http://bob:s3cret-pw@127.0.0.1:{port}"
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path,
            env={**env, "MLFLOW_TRACKING_URI": url},
            capture_output=True,
            text=True,
            timeout=120,
        )
    bare = url.replace("bob:s3cret-pw@", "")
    assert done.returncode == 0, done.stderr
    spool = r"\.mltrack/spool/[0-9a-f]{12}"
    assert re.fullmatch(
        rf"mltrack: tracking server {re.escape(bare)} unreachable: 10 values and the status of "
        rf"run 'offline-exit' \(FINISHED\) spooled to {spool}; they will be sent when it is back\n"
        rf"mltrack: tracking server {re.escape(bare)} still unreachable at exit: 10 values wait "
        rf"in {spool}; run `ml sync` to send them\n",
        done.stderr,
    ), done.stderr
    assert "s3cret" not in done.stderr + done.stdout


@pytest.mark.slow
def test_a_run_started_offline_is_read_back_by_its_handle_once_the_server_is_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.setenv("MLTRACK_LOGGING__RETRY_INTERVAL_S", "3600")  # only the read replays
    mltrack_experiment = "offline-handle"
    mlflow.set_tracking_uri(url)
    with mltrack.run("early", experiment=mltrack_experiment, params={"lr": 0.1}) as run:
        for step in range(20):
            mltrack.log_metric("loss", 1 / (step + 1))
    assert run.offline and run.id.startswith("local-")
    (line,) = _mltrack_lines(capsys)
    assert re.fullmatch(
        _outage_line(url, r"21 values and the status of run 'early' \(FINISHED\)"), line
    ), line

    server = start_server(root=tmp_path / "server", port=port)
    try:
        info = mltrack.get_run(run.id)  # the local id still finds the run the replay created
        assert not info.id.startswith("local-") and info.name == "early"
        assert info.status == "FINISHED" and info.end_time is not None
        assert info.params == {"lr": "0.1"} and info.metrics == {"loss": 1 / 20}
        assert info.tags["mltrack.spooled"] == "true"
        assert _mltrack_lines(capsys) == [
            f"mltrack: tracking server {url} is back: sent the 21 spooled values and the "
            "status of 1 run"
        ]
    finally:
        server.stop()
        mlflow.set_tracking_uri(None)


@pytest.mark.slow
def test_server_back_before_the_block_ends_gets_everything_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run's end replays the spool itself: plain MLflow reads see all of it at once."""
    server = start_server(root=tmp_path / "server")
    try:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
        monkeypatch.setenv("MLTRACK_LOGGING__RETRY_INTERVAL_S", "3600")  # no probe meanwhile
        mlflow.set_tracking_uri(server.url)
        with mltrack.run("comeback", experiment="comeback", autolog=False) as run:
            mltrack.log_metric("x", 0.0, step=0)
            assert mltrack.flush(timeout=60)
            kill_group(server.process)  # the server dies; its store stays
            for step in range(1, 1500):
                mltrack.log_metric("x", float(step), step=step)
            assert not mltrack.flush(timeout=60)  # spooled
            server.restart()
        stored = MlflowClient(server.url).get_run(run.id)
        assert stored.info.status == "FINISHED" and stored.data.metrics == {"x": 1499.0}
        assert len(MlflowClient(server.url).get_metric_history(run.id, "x")) == 1500
        assert get_logger(server.url).spool.is_empty()
        # Never announced (no probe failed, the run ended with the server back): no line.
        assert _mltrack_lines(capsys) == []
    finally:
        server.stop()
        mlflow.set_tracking_uri(None)
