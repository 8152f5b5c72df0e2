"""Git state: one git call, credentials stripped from the remote."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mltrack.gitinfo import git_info, strip_credentials


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_strip_credentials() -> None:
    assert (
        strip_credentials("https://user:s3cret@github.com/o/r.git") == "https://github.com/o/r.git"
    )
    assert strip_credentials("https://ghp_token@github.com/o/r") == "https://github.com/o/r"
    assert strip_credentials("git@github.com:o/r.git") == "git@github.com:o/r.git"


def test_git_info_commit_branch_dirty_remote(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    _git(tmp_path, "remote", "add", "origin", "https://alice:hunter2@example.com/team/repo.git")
    (tmp_path / "a.txt").write_text("1")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-qm", "first")
    info = git_info(tmp_path)
    assert info is not None
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True
    ).stdout.strip()
    assert info.commit == head
    assert info.branch == "main"
    assert info.dirty is False
    assert info.remote == "https://example.com/team/repo.git"
    (tmp_path / "a.txt").write_text("2")
    dirty = git_info(tmp_path)
    assert dirty is not None and dirty.dirty is True
    tags = dirty.as_tags()
    assert tags["mlflow.source.git.commit"] == head
    assert "hunter2" not in str(tags)


def test_outside_git_is_none(tmp_path: Path) -> None:
    assert git_info(tmp_path) is None
