"""The version selector lists every version when the docs are deployed with mike.

mike publishes each version as a folder of a ``gh-pages`` branch plus a ``versions.json``
that Material's selector reads. Plain builds use ``mkdocs.yml`` without the selector
(every page would request a missing ``versions.json``); ``make docs-deploy`` deploys with
``mkdocs.mike.yml``, which inherits the real config and adds ``extra.version.provider:
mike``. The browser test deploys two versions of a small project laid out the same way
(a plain ``mkdocs.yml`` and an inheriting ``mkdocs.mike.yml``) into a throwaway git
repository, serves the branch and checks the selector in Chromium; the other tests check
that the real ``mkdocs.mike.yml`` is the real site plus the provider, and what
``make docs-deploy`` runs.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from mkdocs.config import load_config
from sitekit import ROOT, serve

MKDOCS_YML = """\
site_name: versions
site_url: https://example.invalid/versions/
theme:
  name: material
  font: false
"""
MKDOCS_MIKE_YML = (ROOT / "mkdocs.mike.yml").read_text()  # the real one: INHERIT + provider


def _mike() -> list[str]:
    exe = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "mike"
    if not exe.exists() and shutil.which("mike") is None:
        pytest.skip("mike is not installed (dev group): `uv sync`")
    return [str(exe) if exe.exists() else "mike"]


def _run(cmd: list[str], cwd: Path) -> None:
    env = {
        **os.environ,
        "NO_MKDOCS_2_WARNING": "1",
        # mike runs `mkdocs` from PATH: the one next to the interpreter running the tests.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
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
    (repo / "mkdocs.mike.yml").write_text(MKDOCS_MIKE_YML)
    _run(["git", "init", "-q", "-b", "main"], repo)
    for version in ("0.1", "0.2"):
        (repo / "docs" / "index.md").write_text(f"# Release {version}\n\nThe {version} docs.\n")
        _run(["git", "add", "-A"], repo)
        _run(["git", "commit", "-q", "-m", version], repo)
        _run(
            [*mike, "deploy", "-F", "mkdocs.mike.yml", "--update-aliases", version, "latest"], repo
        )
    _run([*mike, "set-default", "-F", "mkdocs.mike.yml", "latest"], repo)
    archive = subprocess.run(
        ["git", "archive", "gh-pages"], cwd=repo, capture_output=True, check=True
    ).stdout
    out = tmp_path_factory.mktemp("mike-site")
    # The "data" filter (PEP 706) came in Python 3.11.4, and mltrack supports 3.11.0 on
    # (Debian 12's CI interpreter is 3.11.2); a git archive of the branch this fixture
    # wrote holds nothing else to filter.
    extract: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(out, **extract)
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


def _load(name: str) -> Any:
    return load_config(config_file=str(ROOT / name))


def test_mike_config_is_the_real_site_plus_the_version_selector() -> None:
    plain, mike = _load("mkdocs.yml"), _load("mkdocs.mike.yml")
    assert "version" not in (plain["extra"] or {}), "plain builds must not use the selector"
    assert mike["extra"]["version"]["provider"] == "mike"
    assert mike["strict"] is True  # a published version is as strict as `make build`
    assert mike["config_file_path"].endswith("mkdocs.mike.yml")
    for key in ("site_name", "site_url", "docs_dir", "nav", "repo_url", "edit_uri"):
        assert mike[key] == plain[key], key
    assert list(mike["plugins"]) == list(plain["plugins"])  # livedocs runs in deployments
    assert mike["plugins"]["livedocs"].config == plain["plugins"]["livedocs"].config
    assert mike["theme"]["features"] == plain["theme"]["features"]
    assert mike["markdown_extensions"] == plain["markdown_extensions"]


def test_docs_deploy_target_runs_mike_with_the_mike_config() -> None:
    def dry_run(*args: str) -> str:
        done = subprocess.run(
            ["make", "-n", "docs-deploy", *args], cwd=ROOT, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return next(line for line in done.stdout.splitlines() if "mike deploy" in line)

    local = dry_run("VERSION=1.2")
    assert re.search(
        r"mike deploy --config-file mkdocs.mike.yml --update-aliases +1\.2 latest$", local
    )
    assert "--push" in dry_run("VERSION=1.2", "PUSH=1")
    from importlib.metadata import version

    assert f" {version('mltrack')} latest" in dry_run()  # VERSION defaults to the package's
