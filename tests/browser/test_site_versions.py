"""The version selector lists every version when the docs are deployed with mike.

mike publishes each version as a folder of a ``gh-pages`` branch plus a ``versions.json``
that Material's selector reads. The test deploys two versions of a small project (Material
with ``extra.version.provider: mike``) into a throwaway git repository, serves the branch
and checks the selector in Chromium. The real ``mkdocs.yml`` needs that same setting when
it is deployed with mike; without mike it would make every page request a missing
``versions.json``, so it is not set for plain builds.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from sitekit import ROOT, serve

MKDOCS_YML = """\
site_name: versions
site_url: https://example.invalid/versions/
theme:
  name: material
  font: false
extra:
  version:
    provider: mike
"""


def _mike() -> list[str]:
    exe = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "mike"
    if not exe.exists() and shutil.which("mike") is None:
        pytest.skip("mike is not installed (dev group): `uv sync`")
    return [str(exe) if exe.exists() else "mike"]


def _run(cmd: list[str], cwd: Path) -> None:
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def mike_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mike = _mike()
    repo = tmp_path_factory.mktemp("mike-repo")
    (repo / "docs").mkdir()
    (repo / "mkdocs.yml").write_text(MKDOCS_YML)
    _run(["git", "init", "-q", "-b", "main"], repo)
    for version in ("0.1", "0.2"):
        (repo / "docs" / "index.md").write_text(f"# Release {version}\n\nThe {version} docs.\n")
        _run(["git", "add", "-A"], repo)
        _run(["git", "commit", "-q", "-m", version], repo)
        _run([*mike, "deploy", "--update-aliases", version, "latest"], repo)
    _run([*mike, "set-default", "latest"], repo)
    archive = subprocess.run(
        ["git", "archive", "gh-pages"], cwd=repo, capture_output=True, check=True
    ).stdout
    out = tmp_path_factory.mktemp("mike-site")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, filter="data")
    return out


def test_version_selector_lists_the_versions(mike_site: Path, browser: Any) -> None:
    assert (mike_site / "versions.json").is_file(), "mike wrote no versions.json"
    with serve(mike_site) as server:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(server.url("0.1/"))
            selector = page.locator(".md-version")
            selector.wait_for(timeout=10_000)
            assert page.locator(".md-version__current").inner_text().strip() == "0.1"
            items = page.locator(".md-version__list .md-version__link")
            texts = [t.strip() for t in items.all_inner_texts()]
            assert any(t.startswith("0.2") for t in texts) and "0.1" in texts, texts
            selector.hover()
            items.filter(has_text="0.2").first.click()
            page.wait_for_url("**/0.2/**")
            assert "Release 0.2" in page.locator("h1").inner_text()
        finally:
            context.close()
