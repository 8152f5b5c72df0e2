"""Build, serve and crawl the docs site the way readers see it (shared by tests and bench).

Used by ``tests/browser/conftest.py`` and ``scripts/bench/site.py``. Nothing here is a
test: it builds the real site with ``mkdocs build --strict``, serves the output with a
static HTTP server on ``127.0.0.1`` and loads every page in headless Chromium (Debian's,
launched by Playwright).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gzip
import http.server
import importlib.util
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

from mltrack._process import keeper_command

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "browser" / "artifacts"
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
# Nothing may be fetched from outside the site (offline readers, privacy), and the crawl
# behaves the same with or without network access: its browser sends every request that
# is not for loopback (which Chromium never proxies) to a proxy that does not exist, so it
# fails at once; each one is recorded from the page's request events. (Routing every
# request through Playwright's driver did the same at a tenth of the crawl's CPU time.)
CRAWL_ARGS = [*CHROMIUM_ARGS, "--proxy-server=http://127.0.0.1:9"]
# A page heavier than this is flagged (issue 9: "flag pages over 1.5 MB").
HEAVY_PAGE_BYTES = 1_500_000
MAX_LOAD_S = 2.0


def search_worker_hook() -> ModuleType:
    """``scripts/mkdocs_hooks/search_worker.py`` (MkDocs loads it by path; so do we)."""
    path = ROOT / "scripts" / "mkdocs_hooks" / "search_worker.py"
    spec = importlib.util.spec_from_file_location("search_worker", path)
    assert spec and spec.loader
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


def find_chromium() -> str | None:
    """Path of the Chromium to drive: ``$MLTRACK_CHROMIUM``, else Debian's, else ``None``."""
    for candidate in (
        os.environ.get("MLTRACK_CHROMIUM"),
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing(reason: str) -> None:
    """Skip the calling test where it cannot run, or fail it when ``$CI`` is set."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason)


def mkdocs_command(*args: str) -> list[str]:
    """``uv run mkdocs ...`` in this project's environment (or this interpreter's mkdocs)."""
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    if os.access(uv, os.X_OK):
        return [uv, "run", "--project", str(ROOT), "--no-sync", "mkdocs", *args]
    return [sys.executable, "-m", "mkdocs", *args]


def build_site(
    dest: Path,
    *,
    cwd: Path = ROOT,
    strict: bool = True,
    timeout_s: float = 900,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``mkdocs build [--strict] -d dest`` in ``cwd``; output captured.

    Raises ``subprocess.TimeoutExpired`` after ``timeout_s``. On a timeout, Ctrl-C or any
    other interruption the build gets SIGTERM first (the livedocs engine then stops its
    MLflow server and workers), and its whole process group SIGKILL if it lingers.
    """
    env = {**(os.environ if env is None else env), "NO_MKDOCS_2_WARNING": "1"}
    args = ["build", "-d", str(dest)] + (["--strict"] if strict else [])
    command = mkdocs_command(*args)
    process = subprocess.Popen(
        keeper_command(command),  # a SIGKILLed pytest takes the build along
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:
        _stop_group(process)
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _stop_group(process: subprocess.Popen[str], grace_s: float = 30) -> None:
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.communicate(timeout=wait_s)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # stragglers left in the group


_COMPRESSIBLE = {".html", ".css", ".js", ".json", ".xml", ".svg", ".txt", ".map", ".ipynb"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, gzip-compressed like any real host (GitHub Pages, Netlify) does, so
    the bytes a page transfers are the bytes a reader would download."""

    _gzipped: dict[tuple[str, int, int], bytes] = {}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        if path.is_dir() and self.path.split("?")[0].endswith("/"):
            path = path / "index.html"
        accepts = "gzip" in (self.headers.get("Accept-Encoding") or "")
        if not (accepts and path.is_file() and path.suffix in _COMPRESSIBLE):
            super().do_GET()
            return
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        body = self._gzipped.get(key)
        if body is None:
            body = self._gzipped[key] = gzip.compress(path.read_bytes(), 6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a browser closing a keep-alive connection is not worth a traceback


@dataclass
class SiteServer:
    """A static HTTP server for a built site, on 127.0.0.1 and a free port."""

    site_dir: Path
    base_url: str = ""
    _server: _QuietServer | None = None
    _thread: threading.Thread | None = None

    def start(self) -> SiteServer:
        handler = functools.partial(_QuietHandler, directory=str(self.site_dir))
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def url(self, path: str = "") -> str:
        """Absolute URL of a site path such as ``guides/insights/``."""
        return self.base_url + path.lstrip("/")

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def serve(site_dir: Path) -> Iterator[SiteServer]:
    """Serve ``site_dir`` for the duration of the block."""
    server = SiteServer(site_dir).start()
    try:
        yield server
    finally:
        server.stop()


def page_paths(site_dir: Path) -> list[str]:
    """URL paths of every HTML page of a built site (``""`` is the home page), sorted."""
    paths = []
    for file in sorted(site_dir.rglob("*.html")):
        rel = file.relative_to(site_dir).as_posix()
        if rel == "404.html":
            continue  # served only for missing pages; crawled separately would 200 anyway
        paths.append(rel[: -len("index.html")] if rel.endswith("index.html") else rel)
    return paths


def is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "blob", "about") or parts.hostname in ("127.0.0.1", "localhost")


@dataclass
class PageReport:
    """What loading one page in a fresh browser context did."""

    path: str
    load_s: float = 0.0
    bytes: int = 0
    requests: int = 0
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return (
            [f"console error: {m}" for m in self.console_errors]
            + [f"uncaught JavaScript error: {m}" for m in self.page_errors]
            + [f"failed request: {m}" for m in self.failed_requests]
            + [f"request leaving the local site (blocked): {m}" for m in self.external_requests]
        )


class _Worker:
    """One browser context reused for many pages, with the HTTP cache off (cold loads).

    With ``tab_per_page`` each page gets a fresh tab, so a new renderer process, as on a
    reader's first visit: what the load-time benchmark measures. Without, one tab goes from
    page to page (through ``about:blank``), which costs Chromium about a third less CPU per
    page; what a page does (errors, requests, bytes) is the same.
    """

    def __init__(self, context: Any, tab_per_page: bool) -> None:
        self.context = context
        self.tab_per_page = tab_per_page
        self.report = PageReport(path="")
        self.inflight = 0
        self._tab: Any = None

    @classmethod
    async def open(cls, browser: Any, tab_per_page: bool = True) -> _Worker:
        return cls(await browser.new_context(), tab_per_page)

    async def close(self) -> None:
        await self.context.close()

    async def load(self, base_url: str, path: str, screenshot_dir: Path | None) -> PageReport:
        report = self.report = PageReport(path=path)
        self.inflight = 0
        page = self._tab or await self._new_tab()
        try:
            await page.goto(base_url + path, wait_until="load", timeout=30_000)
            await _quiet(self, page)
            timing = await page.evaluate(
                "(() => { const n = performance.getEntriesByType('navigation')[0];"
                " return n ? n.loadEventEnd - n.startTime : null; })()"
            )
            report.load_s = round((timing or 0.0) / 1000, 3)
            if report.problems and screenshot_dir is not None:
                screenshot_dir.mkdir(parents=True, exist_ok=True)
                name = "crawl-" + (path.strip("/").replace("/", "__") or "home") + ".png"
                await page.screenshot(path=str(screenshot_dir / name), full_page=False)
        finally:
            # What the page does while it is left (aborted requests) is not its report's.
            self.report = PageReport(path="")
            if self.tab_per_page:
                await page.close()
            else:
                self._tab = page
                await page.goto("about:blank")
        return report

    async def _new_tab(self) -> Any:
        page = await self.context.new_page()
        cdp = await self.context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})  # cold every time
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.report.page_errors.append(str(exc)))
        page.on("request", self._on_request)
        page.on("requestfinished", lambda r: self._on_done(r, False))
        page.on("requestfailed", lambda r: self._on_done(r, True))
        page.on("response", self._on_response)
        return page

    def _on_console(self, message: Any) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if "Failed to load resource" in message.text and where and not is_local(where):
            return  # already reported as an external request
        self.report.console_errors.append(f"{message.text} ({where or 'page'})")

    def _on_request(self, request: Any) -> None:
        self.inflight += 1
        if not is_local(request.url):  # blocked by the browser: see CRAWL_ARGS
            self.report.external_requests.append(request.url)

    def _on_done(self, request: Any, failed: bool) -> None:
        self.inflight -= 1
        if failed and is_local(request.url):
            self.report.failed_requests.append(f"{request.url}: {request.failure}")

    def _on_response(self, response: Any) -> None:
        self.report.requests += 1
        # The static server sends every body uncompressed with its Content-Length.
        self.report.bytes += int(response.headers.get("content-length") or 0)
        if is_local(response.url) and response.status >= 400:
            self.report.failed_requests.append(f"{response.url}: HTTP {response.status}")


async def _quiet(worker: _Worker, page: Any, quiet_s: float = 0.25, max_s: float = 3.0) -> None:
    """Wait until no request has been in flight for ``quiet_s`` (what loads after ``load``).

    Time is counted by the page's own timers, not the crawler's clock: a timer the page set
    at ``load`` fires before the ones that make up the wait, however busy the machine (a
    renderer starved of CPU runs its timers late, and a wall-clock wait ended before them).
    """
    step, calm, waited = 0.05, 0.0, 0.0
    started = time.monotonic()
    while calm < quiet_s and waited < max_s and time.monotonic() - started < 4 * max_s:
        try:
            await page.evaluate(f"new Promise(r => setTimeout(r, {int(step * 1000)}))")
        except Exception:  # the page navigated away or closed: nothing more of it to wait for
            return
        waited += step
        calm = calm + step if worker.inflight <= 0 else 0.0


async def _crawl(
    base_url: str,
    paths: list[str],
    concurrency: int,
    chromium: str,
    screenshot_dir: Path | None,
    max_screenshots: int,
    remeasure_over_s: float | None,
    tab_per_page: bool,
) -> list[PageReport]:
    from playwright.async_api import async_playwright

    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(len(paths)):
        queue.put_nowait(i)
    reports: list[PageReport | None] = [None] * len(paths)
    shots = {"left": max_screenshots}

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=CRAWL_ARGS)
        try:

            async def work() -> None:
                worker = await _Worker.open(browser, tab_per_page)
                while not queue.empty():
                    i = queue.get_nowait()
                    shot_dir = screenshot_dir if shots["left"] > 0 else None
                    reports[i] = report = await worker.load(base_url, paths[i], shot_dir)
                    if report.problems and shot_dir is not None:
                        shots["left"] -= 1
                await worker.close()

            await asyncio.gather(*(work() for _ in range(max(1, concurrency))))
            done = [r for r in reports if r is not None]
            # Loads measured side by side share the CPUs; re-measure a slow page on its own
            # (best of two) before calling it slow.
            slow = [r for r in done if remeasure_over_s is not None and r.load_s > remeasure_over_s]
            if slow:
                alone = await _Worker.open(browser)
                for report in slow:
                    again = [(await alone.load(base_url, report.path, None)).load_s for _ in "ab"]
                    report.load_s = min(again)
                await alone.close()
        finally:
            await browser.close()
    return done


def crawl(
    base_url: str,
    paths: list[str],
    *,
    concurrency: int = 2,
    chromium: str | None = None,
    screenshot_dir: Path | None = None,
    max_screenshots: int = 10,
    remeasure_over_s: float | None = MAX_LOAD_S,
    tab_per_page: bool = True,
) -> list[PageReport]:
    """Load every page with the HTTP cache off (cold) and report what happened.

    Pages load ``concurrency`` at a time, each in a fresh tab, or with ``tab_per_page``
    off, one tab per worker going from page to page (cheaper; see ``_Worker``).

    A page whose load took over ``remeasure_over_s`` (side by side with others) is loaded
    twice more on its own and keeps the better time; ``None`` re-measures nothing.

    Runs the async Playwright API in a thread of its own, so it can be called while a sync
    Playwright session (a pytest fixture) is active in the calling thread.
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("Chromium not found: install it or set MLTRACK_CHROMIUM")
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["reports"] = asyncio.run(
                _crawl(
                    base_url,
                    paths,
                    concurrency,
                    chromium,
                    screenshot_dir,
                    max_screenshots,
                    remeasure_over_s,
                    tab_per_page,
                )
            )
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=target, name="site-crawl")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["reports"]


def summarize(reports: list[PageReport]) -> dict[str, Any]:
    """p50/max load time and bytes per page, and the pages over the budgets."""
    loads = [r.load_s for r in reports]
    sizes = [r.bytes for r in reports]
    return {
        "pages": len(reports),
        "load_p50_s": round(statistics.median(loads), 3),
        "load_max_s": round(max(loads), 3),
        "bytes_p50": int(statistics.median(sizes)),
        "bytes_max": max(sizes),
        "bytes_total": sum(sizes),
        "slow_pages": sorted(r.path or "/" for r in reports if r.load_s > MAX_LOAD_S),
        "heavy_pages": sorted(r.path or "/" for r in reports if r.bytes > HEAVY_PAGE_BYTES),
        "per_page": {r.path or "/": asdict(r) for r in reports},
    }


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = func(*args, **kwargs)
    return value, time.perf_counter() - start
