"""Git state of the code being run: commit, branch, dirty flag and remote.

One ``git status`` call gives commit, branch and the dirty flag; the remote URL is read
from ``.git/config`` directly. Credentials embedded in remote URLs
(``https://user:token@host/...``) are always stripped before anything is logged.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GitInfo", "git_info", "strip_credentials"]

_CREDENTIALS = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^@/]*@")


@dataclass(frozen=True)
class GitInfo:
    """Git state of a working tree."""

    commit: str
    branch: str | None
    dirty: bool
    remote: str | None
    root: Path

    def as_tags(self) -> dict[str, str]:
        """MLflow tags (standard ``mlflow.source.git.*`` keys where MLflow has them)."""
        tags = {
            "mlflow.source.git.commit": self.commit,
            "mltrack.git.dirty": str(self.dirty).lower(),
        }
        if self.branch:
            tags["mlflow.source.git.branch"] = self.branch
        if self.remote:
            tags["mlflow.source.git.repoURL"] = self.remote
        return tags


def strip_credentials(url: str) -> str:
    """Remove ``user:password@`` from a URL: ``https://u:t@github.com/x`` -> ``https://github.com/x``."""
    return _CREDENTIALS.sub(r"\g<scheme>", url)


def _find_root(start: Path) -> Path | None:
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return None


def _remote_url(root: Path) -> str | None:
    git_path = root / ".git"
    if git_path.is_file():  # worktree or submodule: "gitdir: <path>"
        target = git_path.read_text().partition("gitdir:")[2].strip()
        git_path = (root / target).resolve()
        common = git_path / "commondir"
        if common.exists():
            git_path = (git_path / common.read_text().strip()).resolve()
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        parser.read(git_path / "config")
    except configparser.Error:
        return None
    sections = [s for s in parser.sections() if s.startswith('remote "')]
    if not sections:
        return None
    preferred = 'remote "origin"' if 'remote "origin"' in sections else sections[0]
    if not parser.has_option(preferred, "url"):
        return None
    return strip_credentials(parser.get(preferred, "url"))


def git_info(path: Path | None = None) -> GitInfo | None:
    """Return the git state of the tree containing ``path`` (default: cwd).

    Returns ``None`` outside a git repository, when git is not installed, or when the
    repository has no commit yet — never raises.
    """
    start = (path or Path.cwd()).resolve()
    root = _find_root(start)
    git = shutil.which("git")
    if root is None or git is None:
        return None
    try:
        out = subprocess.run(
            [git, "status", "--porcelain=v2", "--branch", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    commit, branch, dirty = None, None, False
    for line in out.splitlines():
        if line.startswith("# branch.oid "):
            commit = line.split(" ", 2)[2]
        elif line.startswith("# branch.head "):
            head = line.split(" ", 2)[2]
            branch = None if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    if not commit or commit == "(initial)":
        return None
    return GitInfo(commit=commit, branch=branch, dirty=dirty, remote=_remote_url(root), root=root)
