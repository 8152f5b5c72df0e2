"""A benchmark leaves no process or temp file behind, however it ends.

Every script under ``scripts/bench/`` imports ``_common`` first, which gives it a temp
root of its own and a sentinel (``mltrack._process.start_sentinel``). These tests run a
small probe that does what benchmarks do (starts a process, writes temp files) and end
it the three ways a benchmark ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._helpers import running, wait_until

BENCH_DIR = Path(__file__).resolve().parents[2] / "scripts" / "bench"

PROBE = textwrap.dedent(
    """
    import subprocess, sys, tempfile, time
    sys.path.insert(0, {bench_dir!r})
    import _common

    child = subprocess.Popen(["sleep", "300"])
    with open(tempfile.mkstemp(prefix="bench-output-")[1], "w") as fh:
        fh.write("partial results")
    print(_common.TEMP_ROOT, child.pid, flush=True)
    if sys.argv[1:] == ["wait"]:
        time.sleep(300)
    else:
        child.kill()
        child.wait()
    """
)


def _start_probe(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], Path, int]:
    script = tmp_path / "probe.py"
    script.write_text(PROBE.format(bench_dir=str(BENCH_DIR)))
    env = {k: v for k, v in os.environ.items() if k != "BENCH_RUN_MARKER"}
    env["TMPDIR"] = str(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, str(script), *args], env=env, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    root, child = proc.stdout.readline().split()
    return proc, Path(root), int(child)


def test_a_benchmark_works_in_a_temp_root_of_its_own(tmp_path: Path) -> None:
    proc, root, _ = _start_probe(tmp_path, "wait")
    try:
        assert root.parent == tmp_path
        assert root.name.startswith("mltrack-bench-run-")
        assert [p.name[:13] for p in root.iterdir()] == ["bench-output-"]
    finally:
        proc.kill()
        proc.wait()


def test_a_benchmark_that_ends_normally_removes_its_temp_root(tmp_path: Path) -> None:
    proc, root, _ = _start_probe(tmp_path)
    assert proc.wait(timeout=30) == 0
    assert not root.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "probe.py"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_killed_benchmark_leaves_no_process_or_temp_file(tmp_path: Path, sig: int) -> None:
    proc, root, child = _start_probe(tmp_path, "wait")
    assert running(child) and root.is_dir()
    proc.send_signal(sig)
    proc.wait(timeout=10)
    # Its sentinel ends what it started and removes what they wrote.
    assert wait_until(lambda: not running(child), 10), "the benchmark's child outlived it"
    assert wait_until(lambda: not root.exists(), 10), "its temp root outlived it"
    assert list(tmp_path.iterdir()) == [tmp_path / "probe.py"]
