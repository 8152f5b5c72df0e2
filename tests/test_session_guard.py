"""The session guard in conftest.py: a process that outlives the tests fails the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from tests._helpers import PYTEST_IN_A_TEST, running

LEAKY_TEST = """
import subprocess


def test_forgets_its_server():
    subprocess.Popen(["sleep", "300"], start_new_session=True)


def test_another_worker():
    pass
"""


def test_an_orphan_process_fails_the_session_and_is_killed(tmp_path: Path) -> None:
    # On xdist workers, as `make test` runs: the leak happens in a worker, which has exited
    # by the time the controller checks; the worker's processes carry the controller's
    # marker.
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_leak.py").write_text(LEAKY_TEST)
    done = subprocess.run(
        [*PYTEST_IN_A_TEST, "-q", "-n", "2", "test_leak.py"],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
            "_MLTRACK_TEST_ORPHAN_GRACE_S": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "2 passed" in done.stdout  # the tests themselves passed: the leak failed the session
    assert "outlived them (killed now)" in done.stdout
    assert "sleep 300" in done.stdout
    # That very process (other tests may run a `sleep 300` of their own meanwhile) is
    # gone: SIGKILL is delivered, not waited for, so on a busy machine give it a moment.
    leaked = [
        int(line.split()[1].rstrip(":"))
        for line in done.stdout.splitlines()
        if line.strip().startswith("pid ") and "sleep 300" in line
    ]
    assert leaked, done.stdout
    deadline = time.monotonic() + 10
    while any(running(pid) for pid in leaked) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in leaked), leaked
