"""``mkdocs serve`` keeps the next build's tracking server and warm pool started.

Real throwaway servers, a real worker pool and real example processes, driven through
the engine in-process with ``spare_server=True`` (what the plugin sets while serving).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mltrack.livedocs.engine import LiveDocsEngine
from mltrack.livedocs.model import EngineConfig
from mltrack.livedocs.processes import WorkerPool

pytestmark = pytest.mark.slow

EXAMPLE = """\
import os

import mlflow

print("port", os.environ["MLFLOW_TRACKING_URI"].rsplit(":", 1)[1])  # the URL is masked
print("parent", os.getppid())
with mlflow.start_run():
    mlflow.log_param("example", {name!r})
print("runs in the store", len(mlflow.search_runs(search_all_experiments=True)))
"""

PAGE = "```livedocs\nfile: examples/a.py\n```\n\n```livedocs\nfile: examples/b.py\n```\n"


def _line(output: str, prefix: str) -> str:
    return next(line for line in output.splitlines() if line.startswith(prefix))


def _gone(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_a_save_runs_on_the_spare_server_and_the_kept_pool_then_both_end(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / "examples").mkdir(exist_ok=True)
        (tmp_path / "examples" / f"{name}.py").write_text(EXAMPLE.format(name=name))
    engine = LiveDocsEngine(
        EngineConfig(root=tmp_path, jobs=1, spare_server=True), progress=lambda *a: None
    )
    runner = engine.runner
    try:
        first = runner.run(engine.plan({"docs/index.md": PAGE}))
        assert sorted(first.executed) == ["examples/a.py", "examples/b.py"]
        spare, pool = runner._spare, runner._kept_pool
        assert spare is not None and pool is not None, "both kept for the next save"
        first_port = _line(first.results["examples/a.py"].output, "port ")
        assert first_port != f"port {spare.port}", "the spare is a new server, not the one used"

        # The writer saves a.py: it runs on the spare server, forked from the kept pool.
        (tmp_path / "examples" / "a.py").write_text(EXAMPLE.format(name="a") + "# saved\n")
        second = runner.run(engine.plan({"docs/index.md": PAGE}))
        assert second.executed == ["examples/a.py"]
        output = second.results["examples/a.py"].output
        assert _line(output, "port ") == f"port {spare.port}"
        assert _line(output, "parent ") == f"parent {pool.proc.pid}"
        # A fresh store: nothing of the first build is on it.
        assert _line(output, "runs in the store ") == "runs in the store 1"
        assert _gone(spare.process.pid), "the used spare stops with its build"
        assert runner._kept_pool is pool, "the pool stays for the next save"
        assert runner._spare is not None and runner._spare.url != spare.url
        next_spare = runner._spare
    finally:
        runner.close()
    assert _gone(next_spare.process.pid) and _gone(pool.proc.pid)
    assert not next_spare.root.exists()


def test_a_kept_pool_is_stale_once_a_module_it_loaded_changes(tmp_path: Path) -> None:
    """A pool kept between saves must not fork workers with the code of before."""
    module = tmp_path / "projectmod.py"
    module.write_text("VALUE = 1\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    pool = WorkerPool(["projectmod"], env)
    try:
        deadline = time.monotonic() + 60
        while not pool.ready:
            assert time.monotonic() < deadline, "the pool never finished importing"
            time.sleep(0.05)
        assert pool.fresh()
        later = module.stat().st_mtime_ns + 2_000_000_000
        os.utime(module, ns=(later, later))
        assert not pool.fresh()
    finally:
        pool.stop()
    assert pool.proc.poll() is not None and not pool.fresh()


def test_a_build_without_serve_keeps_nothing(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    for name in ("a", "b"):
        (tmp_path / "examples" / f"{name}.py").write_text(EXAMPLE.format(name=name))
    engine = LiveDocsEngine(EngineConfig(root=tmp_path, jobs=2), progress=lambda *a: None)
    report = engine.runner.run(engine.plan({"docs/index.md": PAGE}))
    assert sorted(report.executed) == ["examples/a.py", "examples/b.py"]
    assert engine.runner._spare is None and engine.runner._kept_pool is None
