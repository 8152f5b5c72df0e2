"""The throwaway PostgreSQL cluster: where its folder goes, and that it ends with its owner
(the rest of a real start is covered by the team fixtures and the docs build's
`team_postgres` example, which runs with a private TMPDIR)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from mltrack._process import processes_with_env
from mltrack.testing import postgres


def test_a_private_temp_dir_is_skipped_when_the_server_runs_as_another_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    as_root = os.geteuid() == 0
    # As root the server runs as `postgres`, who cannot enter a 0700 folder of root's.
    assert postgres._temp_base() == ("/tmp" if as_root else None)
    private.chmod(0o755)
    open_above = all(p.stat().st_mode & 0o001 for p in private.resolve().parents)
    assert postgres._temp_base() == (None if open_above or not as_root else "/tmp")


@pytest.mark.usefixtures("pg_bin")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_cluster_ends_with_the_process_that_started_it(sig: signal.Signals) -> None:
    """pg_ctl detaches the server; the cluster's sentinel stops it when its owner dies."""
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        root = Path(owner.stdout.readline().strip())
        assert root.name.startswith("mltrack-pg-") and (root / "data").is_dir(), (
            owner.stderr.read() if owner.stderr else ""
        )
        servers = processes_with_env(postgres.CLUSTER_ENV, root.name)
        assert servers, "the server does not carry the cluster's marker"
        owner.send_signal(sig)
        owner.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and (
            root.exists() or processes_with_env(postgres.CLUSTER_ENV, root.name)
        ):
            time.sleep(0.1)
        assert processes_with_env(postgres.CLUSTER_ENV, root.name) == []
        assert not root.exists()
    finally:
        owner.kill()
        owner.wait()


@pytest.mark.usefixtures("pg_bin")
def test_a_stopped_cluster_leaves_no_process_behind() -> None:
    with postgres.temporary_postgres() as cluster:
        sentinel = cluster._sentinel
        assert sentinel is not None and sentinel.proc.poll() is None
        marker = cluster.root.name
    assert sentinel.proc.poll() == 0  # released: it cleaned nothing up
    assert processes_with_env(postgres.CLUSTER_ENV, marker) == []
    assert not cluster.root.exists()


# Starts a cluster, prints its folder and waits to be killed (SIGTERM's default: no
# cleanup code of its own runs).
_OWNER = """
import time
from mltrack.testing.postgres import start_postgres
print(start_postgres().root, flush=True)
time.sleep(120)
"""
