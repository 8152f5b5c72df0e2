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

from tests._helpers import running, wait_until

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


def test_child_of_a_killed_owner_runs_every_cleanup_and_removes_its_folders(
    tmp_path: Path,
) -> None:
    owned = [tmp_path / "logs", tmp_path / "scratch"]
    for folder in owned:
        (folder / "nested").mkdir(parents=True)
        (folder / "nested" / "file.txt").write_text("x")
    marker = tmp_path / "first-cleanup"
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER, _CHILD, str(marker), *map(str, owned)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
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
