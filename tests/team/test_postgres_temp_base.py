"""Where a throwaway PostgreSQL cluster puts its folder (the real start is covered by
the team fixtures and the docs build's `team_postgres` example, which runs with a
private TMPDIR)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

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
