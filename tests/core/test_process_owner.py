"""A child tied to its owner (``owner_env``) ends with it and removes what it was left.

Real processes: an owner started in a session of its own starts a child with
``owner_env(owned=...)``; the owner is killed outright (SIGKILL, so none of its own
cleanup runs) and the child must end, run its cleanups and remove the folders.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._helpers import PGRP, processes_where, running, wait_until

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from mltrack._process import OWNED_PATHS_ENV, exit_with_parent, exit_with_parent_from_env
    # Two calls for the same owner: one watchdog must run both cleanups before the end.
    exit_with_parent(on_exit=lambda: open(sys.argv[1], "w").write("first cleanup ran"))
    exit_with_parent_from_env()
    print("inherited:", os.environ.get(OWNED_PATHS_ENV), flush=True)
    time.sleep(300)
    """
)

_OWNER = textwrap.dedent(
    """
    import os, subprocess, sys, time
    from mltrack._process import owner_env
    child = subprocess.Popen(
        [sys.executable, "-c", sys.argv[1], sys.argv[2]],
        env={**os.environ, **owner_env(owned=sys.argv[3:])},
        stdout=subprocess.PIPE,
        text=True,
    )
    print(child.pid, child.stdout.readline().strip(), flush=True)
    time.sleep(300)
    """
)


def _start_owner(code: str, *args: str) -> subprocess.Popen[str]:
    """``python -c CODE ARGS`` in a session of its own, its stdout readable."""
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def test_child_of_a_killed_owner_runs_every_cleanup_and_removes_its_folders(
    tmp_path: Path,
) -> None:
    owned = [tmp_path / "logs", tmp_path / "scratch"]
    for folder in owned:
        (folder / "nested").mkdir(parents=True)
        (folder / "nested" / "file.txt").write_text("x")
    marker = tmp_path / "first-cleanup"
    owner = _start_owner(_OWNER, _CHILD, str(marker), *map(str, owned))
    child = 0
    try:
        assert owner.stdout is not None
        child_pid, said = owner.stdout.readline().split(" ", 1)
        child = int(child_pid)
        assert said.strip() == "inherited: None", "the variables are not passed further on"
        assert all(folder.is_dir() for folder in owned)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        assert wait_until(lambda: not running(child), 5), "the child outlived its owner"
        assert marker.read_text() == "first cleanup ran", "the first watchdog's cleanup ran"
        assert not any(folder.exists() for folder in owned), "the owned folders are gone"
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
        if child and running(child):  # a failed assertion above: leave nothing behind
            os.kill(child, signal.SIGKILL)


def test_owner_env_names_only_the_owner_without_folders() -> None:
    from mltrack._process import OWNED_PATHS_ENV, OWNER_ENV, owner_env

    assert owner_env() == {OWNER_ENV: str(os.getpid())}
    env = owner_env(owned=[Path("/a"), "/b"])
    assert env[OWNED_PATHS_ENV] == os.pathsep.join(["/a", "/b"])


_SLOW_TO_FINISH = textwrap.dedent(
    """
    import os, signal, sys, time
    from mltrack._process import exit_with_parent

    class SlowTeardown:  # what a finalization stuck or slowed down by a busy machine does
        def __del__(self):
            time.sleep(60)

    keep = SlowTeardown()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # as the model server does
    exit_with_parent()
    print(os.getpid(), flush=True)
    while True:
        time.sleep(0.05)
    """
)


@pytest.mark.parametrize("own_group", [True, False], ids=["group-leader", "in-owner-group"])
def test_child_slow_to_finish_is_killed_after_the_grace_period(own_group: bool) -> None:
    """SIGTERM starts the child's shutdown; once the interpreter finalizes, no thread of it
    runs again, so the SIGKILL after the grace period must come from outside it. The
    killer itself leaves with the child."""
    owner = _start_owner(
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', sys.argv[1]], "
        f"stdout=subprocess.PIPE, text=True, start_new_session={own_group})\n"
        "print(child.stdout.readline().strip(), flush=True)\n"
        "time.sleep(300)\n",
        _SLOW_TO_FINISH,
    )
    child = 0
    try:
        assert owner.stdout is not None
        child = int(owner.stdout.readline())
        group = child if own_group else owner.pid
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=10)
        assert wait_until(lambda: not running(child), 5), "the child outlived its owner by 5 s"
        assert wait_until(lambda: not processes_where(PGRP, group), 2), "its killer stayed"
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
        if child and running(child):
            os.kill(child, signal.SIGKILL)
