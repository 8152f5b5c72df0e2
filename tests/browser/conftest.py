"""Fixtures for the site-as-readers-see-it tests.

The site is built ONCE per session with ``mkdocs build --strict`` into a temporary
directory (never the repository's ``site/``), or taken from ``$MLTRACK_SITE_DIR``. It is
served by a static HTTP server on 127.0.0.1 and driven with Debian's Chromium through
Playwright. Without Chromium the tests are skipped (and fail when ``$CI`` is set).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sitekit import (
    ARTIFACTS,
    CHROMIUM_ARGS,
    ROOT,
    SiteServer,
    build_site,
    find_chromium,
    missing,
    serve,
)

HERE = Path(__file__).resolve().parent
BUILD_TIMEOUT_S = 1500


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything here needs the built site (and most a browser): `make test-fast` skips it.
    # The first test that needs the site also pays for the one strict build (executing every
    # example when the cache is cold), hence a timeout well above the suite's default.
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.browser)
            item.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_S + 300))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="session", autouse=True)
def fresh_artifacts() -> None:
    """Screenshots and reports of this session only (the folder is gitignored).

    Only files from before the session started go: under xdist every worker runs this,
    and must not remove what another worker has written since.
    """
    started = float(os.environ.get("_MLTRACK_TEST_SESSION_STARTED", "inf"))
    if ARTIFACTS.is_dir():
        for old in ARTIFACTS.iterdir():
            if old.is_file() and old.suffix in (".png", ".json"):
                with contextlib.suppress(FileNotFoundError):  # another worker was first
                    if old.stat().st_mtime < started:
                        old.unlink()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        missing(
            "Chromium not found at $MLTRACK_CHROMIUM, /usr/bin/chromium or "
            "/usr/bin/chromium-browser: run `make chromium` (sudo apt-get install chromium)"
        )
    assert path is not None
    return path


@pytest.fixture(scope="session")
def site_dir() -> Iterator[Path]:
    """The built site: ``$MLTRACK_SITE_DIR`` or one strict build for the whole session."""
    given = os.environ.get("MLTRACK_SITE_DIR")
    if given:
        path = Path(given)
        if not (path / "index.html").is_file():
            pytest.fail(f"MLTRACK_SITE_DIR={given} has no index.html: build the site first")
        yield path
        return
    tmp = Path(tempfile.mkdtemp(prefix="mltrack-site-"))
    try:
        try:
            result = build_site(tmp / "site", timeout_s=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`mkdocs build --strict` did not finish in {BUILD_TIMEOUT_S} s; build the "
                "site once and pass it as MLTRACK_SITE_DIR=<dir>",
                pytrace=False,
            )
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-40:])
            pytest.fail(
                f"`mkdocs build --strict` failed (exit {result.returncode}); "
                f"the site cannot be tested:\n{tail}",
                pytrace=False,
            )
        yield tmp / "site"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def site(site_dir: Path) -> Iterator[SiteServer]:
    with serve(site_dir) as server:
        yield server


@contextlib.contextmanager
def _launched(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="session")
def _session_browser(request: pytest.FixtureRequest, chromium_path: str) -> Iterator[Any]:
    """One Chromium for a session of browser tests only (`make test`'s second half).

    Playwright's sync API keeps an asyncio loop running in the main thread while it is
    open, which would break `asyncio.run()` in a later test of another kind: a session
    that mixes them gets ``None`` here and a Chromium per module (each launch costs ~1.3
    CPU-s).
    """
    if not all(item.get_closest_marker("browser") for item in request.session.items):
        yield None
        return
    with _launched(chromium_path) as instance:
        yield instance


@pytest.fixture(scope="module")
def browser(_session_browser: Any, chromium_path: str) -> Iterator[Any]:
    if _session_browser is not None:
        yield _session_browser
        return
    with _launched(chromium_path) as instance:
        yield instance


def _artifact_name(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.split("::", 1)[-1])[:120]


@pytest.fixture
def context(browser: Any, site: SiteServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context (own storage) whose pages are screenshot if the test fails."""
    ctx = browser.new_context(base_url=site.base_url, viewport={"width": 1280, "height": 900})
    # Speed is scripts/bench/site.py's: a wait here fails only when something never
    # happens. On a loaded 2-core machine (load 15) a tab's page swap once took > 10 s.
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            for i, page in enumerate(ctx.pages):
                with contextlib.suppress(Exception):  # a crashed page has nothing to show
                    page.screenshot(
                        path=str(ARTIFACTS / f"{_artifact_name(request.node.nodeid)}-{i}.png"),
                        full_page=True,
                    )
        ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    return context.new_page()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
