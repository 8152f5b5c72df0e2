"""Screenshots of what an example left on the throwaway server, taken at build time.

A ``screenshot:`` block names an app, the example whose state it shows and a view::

    ```livedocs
    screenshot: mlflow-ui
    of: examples/quickstart.py
    view: experiment            # experiment | run | trace | model | compare, or url: /path
    sort: accuracy              # optional: the runs table sorted by this metric
    alt: The quick start's three runs in the MLflow UI
    ```

Right after the items of a build ran, while the server is still up, Chromium (driven
by Playwright) opens each view twice, in the light and the dark colour scheme, waits
until it has rendered (no spinner, text unchanged for a moment), and keeps two PNG
images and the view's visible text. They belong to the example's result: cached under
its key (which includes the blocks' specs, so a new or changed block runs the example
again), stale with it when a file it used changes. A view that shows MLflow's error
page, "not found", an HTTP error or never settles fails the example, naming the block.

Apps: ``mlflow-ui`` (the tracking server's UI), ``model-server`` (the example's
registered model served by ``python -m mltrack.serve``, ``/docs`` by default),
``model-card`` (the HTML model card the example logged to its run) and ``team-server``
(a fresh ``ml server --auth``, signed in as its admin: ``/#/admin`` by default).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
import os
import queue
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from mltrack.livedocs.collect import tracking_client
from mltrack.livedocs.directives import SCREENSHOT_VIEWS, Directive
from mltrack.livedocs.model import ErrorInfo, Item, ItemResult, Screenshot

if TYPE_CHECKING:
    from mltrack.livedocs.cache import ResultCache
    from mltrack.livedocs.runner import BuildReport

__all__ = [
    "FIX",
    "browser_problem",
    "chromium_path",
    "drop_unshot",
    "screenshots_fingerprint",
    "Photographer",
    "spec_id",
]

#: What a reader of the build log is told to run when Chromium or Playwright is missing.
FIX = "bash scripts/ensure_chromium.sh"
#: Width of every shot: Material's content column shows it scaled down, sharp enough.
WIDTH = 1280
DEFAULT_HEIGHT = 720
#: Seconds a view may take to render (MLflow's charts load their data one by one).
RENDER_TIMEOUT_S = 30.0
#: The view's text must stay the same this many polls in a row to count as rendered.
_STABLE_POLLS = 3
_POLL_MS = 300
_CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: MLflow's error and not-found pages, in any view.
_ERROR_TEXT = re.compile(
    r"page not found|not found|load error|something went wrong|does not exist|"
    r"an error occurred|failed to (?:load|fetch)|internal server error",
    re.I,
)
#: Keeps MLflow's assistant panel and first-visit hints closed (they would cover the
#: view), and forgets the colour scheme an earlier page of the same context kept, so that
#: each page follows the scheme it is shot in.
_INIT_SCRIPT = """
try {
  localStorage.setItem('mlflow.assistant.panelOpen_v1', 'false');
  localStorage.setItem('mlflow.assistant.fab.autoOpenedOnFirstLoad_v1', 'true');
  localStorage.removeItem('_mlflow_dark_mode_toggle_enabled');
  localStorage.removeItem('databricks-dark-mode-pref');
} catch (e) {}
"""
#: The view's root (an open drawer or dialog, else the main area) and whether anything
#: in it still shows a loading indicator.
_STATE_JS = """
() => {
  const visible = (e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const dialogs = [...document.querySelectorAll('[role="dialog"]')].filter(visible);
  const root = dialogs.length ? dialogs[dialogs.length - 1]
    : (document.querySelector('main') || document.body);
  const busy = [...document.querySelectorAll(
    '[role="progressbar"], [aria-busy="true"], [class*="spinner" i], [class*="spin-dot" i],' +
    ' [class*="-spin-spinning"], [class*="skeleton" i]'
  )].filter(visible).length;
  return {text: (root && root.innerText) || '', busy: busy};
}
"""
#: Volatile values of a view's text, masked before it is cached and diffed.
_TEXT_MASKS = [
    (re.compile(r"\b(?:a few|\d+|an?) (?:second|minute|hour|day)s? ago\b|\bjust now\b"), "<ago>"),
    (re.compile(r"\b\d{2}/\d{2}/\d{4},? \d{1,2}:\d{2}(?::\d{2})?(?: ?[AP]M)?"), "<time>"),
    (re.compile(r"#[0-9a-f]{6}\b"), "#<colour>"),
]
_MAX_TEXT = 4000
#: Swagger UI's files, fetched by FastAPI's /docs from a CDN: served from the vendored copy.
_VENDORED_SWAGGER = "docs/assets/vendor/swagger-ui"
_PUBLIC_URL = "http://localhost:5000"


class ShotError(Exception):
    """A view could not be shot; the message says what the reader of the log should fix."""


def chromium_path() -> str | None:
    """The Chromium to drive: ``$MLTRACK_CHROMIUM`` when set, else Debian's, else ``None``."""
    given = os.environ.get("MLTRACK_CHROMIUM")
    candidates = [given] if given else ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def browser_problem() -> str | None:
    """Why screenshots cannot be taken on this machine (naming the fix), or ``None``."""
    if importlib.util.find_spec("playwright") is None:
        return f"screenshot not taken: Playwright is not installed; run `{FIX}` and `make install`"
    if chromium_path() is None:
        where = os.environ.get("MLTRACK_CHROMIUM") or "/usr/bin/chromium"
        return f"screenshot not taken: Chromium not found at {where}; run `{FIX}`"
    return None


def spec_id(directive: Directive) -> str:
    """What a block asks to see (its options but the alt text), as a short hash."""
    options = {k: v for k, v in directive.options.items() if k != "alt"}
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]


def screenshots_fingerprint(directives: list[Directive]) -> str:
    """Part of an item's cache key: the views asked of it and the code that shoots them."""
    own = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    return own + "|" + ",".join(sorted({spec_id(d) for d in directives}))


def drop_unshot(cache_dir: Path, item: Item) -> None:
    """Forget a cached result of ``item`` that lacks one of its screenshots.

    The runner caches a result as soon as its item ran, and the shots are added once
    every item ran. A build stopped in between (Ctrl-C, SIGKILL) leaves a result without
    them, which must not count as a hit: the item runs again and is shot.
    """
    from mltrack.livedocs.cache import ResultCache

    hit = ResultCache(cache_dir).load(item.key)
    if hit is None:
        return
    have = {s.spec for s in hit.screenshots if s.ok}
    if {spec_id(d) for d in item.screenshots} - have:
        with contextlib.suppress(OSError):
            (cache_dir / "items" / f"{item.key}.json").unlink()


# -- the tracking server ---------------------------------------------------------------

#: Seconds one read of the tracking server may take.
READ_TIMEOUT_S = 15.0
#: Runs of an example looked at, oldest first.
_MAX_RUNS = 200
_P = ParamSpec("_P")
_T = TypeVar("_T")


def _read(call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``call(*args, **kwargs)``, a read through MLflow's client, within READ_TIMEOUT_S.

    MLflow's client takes its timeout and retries from process-wide environment variables
    only (which the examples started meanwhile would inherit), and by default retries a
    hung server for minutes: the read runs on a daemon thread, left to end on its own.

    Raises:
        ShotError: the server did not answer in time.
    """
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, call(*args, **kwargs)))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append((False, exc))

    thread = threading.Thread(target=target, name="livedocs-screenshot-read", daemon=True)
    thread.start()
    thread.join(READ_TIMEOUT_S)
    if not outcome:
        raise ShotError(f"the tracking server did not answer within {READ_TIMEOUT_S:g} s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


@dataclass
class _State:
    """What an example left on the server: its experiment and runs (oldest first).

    Read through MLflow's client (:func:`mltrack.livedocs.collect.tracking_client`), as
    the runs shown under an example are.
    """

    url: str
    client: Any  # mlflow.MlflowClient
    experiment_id: str
    runs: list[Any]  # mlflow.entities.Run

    def run(self, name: str | None) -> Any:
        """The run named ``name``, else the last run that logged metrics, else the last."""
        if name:
            found = [r for r in self.runs if r.info.run_name == name]
            if not found:
                names = sorted({r.info.run_name or "" for r in self.runs})
                raise ShotError(f"the example created no run named {name!r}; its runs: {names}")
            return found[-1]
        if not self.runs:
            raise ShotError("the example created no run in its experiment")
        with_metrics = [r for r in self.runs if r.data.metrics]
        return (with_metrics or self.runs)[-1]

    def registered(self) -> list[str]:
        """The registered models of the versions the example's runs produced, in order."""
        found: list[str] = []
        for run in self.runs:
            query = f"run_id='{run.info.run_id}'"
            found += [v.name for v in _read(self.client.search_model_versions, query)]
        return found

    def model(self, name: str | None) -> str:
        """``name`` (a registered model), else the registered model of the example's runs."""
        if name:
            from mlflow.exceptions import MlflowException

            try:
                _read(self.client.get_registered_model, name)
            except MlflowException as exc:
                if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                names = sorted(set(self.registered()))
                which = ", ".join(map(repr, names)) if names else "none"
                raise ShotError(
                    f"no registered model named {name!r}; the example registered {which}: "
                    "fix 'model:' in the block"
                ) from None
            return name
        found = self.registered()
        if not found:
            raise ShotError("the example registered no model; name one with 'model: NAME'")
        return found[-1]

    def trace_id(self) -> str:
        traces = _read(
            self.client.search_traces,
            locations=[self.experiment_id],
            max_results=1,
            order_by=["timestamp_ms DESC"],
            include_spans=False,
        )
        if not traces:
            raise ShotError("the example recorded no trace in its experiment")
        return str(traces[0].info.trace_id)


def _state(url: str, experiment: str | None) -> _State:
    if not experiment:
        raise ShotError("the example ran in no experiment of this build")
    client = tracking_client(url)
    if client is None:
        raise ShotError(f"the tracking server {url} did not answer")
    found = _read(client.get_experiment_by_name, experiment)
    if found is None:
        raise ShotError(f"the example left no experiment {experiment!r} on the server")
    runs = _read(
        client.search_runs,
        [found.experiment_id],
        max_results=_MAX_RUNS,
        order_by=["attributes.start_time ASC"],
    )
    return _State(url, client, str(found.experiment_id), list(runs))


def _artifact_text(state: _State, run: Any, path: str) -> str:
    """The text of the file ``path`` among a run's artifacts (via a folder removed again)."""
    import mlflow.artifacts

    from mltrack._process import owned_tempdir
    from mltrack.artifact_reads import no_download_bar

    folder = owned_tempdir("mltrack-livedocs-")  # reaped by a later build if we die
    try:
        with no_download_bar():  # not on the build's log
            local = mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id,
                artifact_path=path,
                dst_path=str(folder),
                tracking_uri=state.url,
            )
        return Path(local).read_bytes().decode("utf-8", errors="replace")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _card_html(state: _State) -> str:
    """The HTML model card the example logged to one of its runs (the last one)."""
    for run in reversed(state.runs):
        files = _read(state.client.list_artifacts, run.info.run_id)
        if any(f.path == "model_card.html" for f in files):
            return _read(_artifact_text, state, run, "model_card.html")
    raise ShotError("no run of the example holds model_card.html; log one with card.log_to_run()")


def _mlflow_path(directive: Directive, state: _State) -> str:
    options = directive.options
    if "url" in options:
        values = {"experiment_id": state.experiment_id}
        if "{run_id}" in options["url"]:
            values["run_id"] = state.run(options.get("run")).info.run_id
        if "{model}" in options["url"]:
            values["model"] = urllib.parse.quote(state.model(options.get("model")))
        return options["url"].format(**values)
    view = options.get("view", SCREENSHOT_VIEWS["mlflow-ui"][0])
    eid = state.experiment_id
    if view == "experiment":
        path = f"/#/experiments/{eid}/runs"
        if options.get("sort"):
            order = urllib.parse.quote(f"metrics.`{options['sort']}`")
            path += f"?orderByKey={order}&orderByAsc=false"
        return path
    if view == "run":
        run_id = state.run(options.get("run")).info.run_id
        return f"/#/experiments/{eid}/runs/{run_id}/model-metrics"
    if view == "trace":
        return f"/#/experiments/{eid}/traces?selectedEvaluationId={state.trace_id()}"
    if view == "model":
        return f"/#/models/{urllib.parse.quote(state.model(options.get('model')))}"
    # compare: every run of the example, one bar per run in a chart per metric
    if len(state.runs) < 2:
        raise ShotError("compare needs at least two runs; the example created fewer")
    return f"/#/experiments/{eid}/runs?compareRunsMode=CHART"


def _serving_uri(state: _State, model: str | None) -> str:
    """The model URI to serve: the registered model's champion, else its latest version."""
    name = state.model(model)
    info = _read(state.client.get_registered_model, name)
    versions = sorted(int(v.version) for v in info.latest_versions or [])
    if "champion" in (info.aliases or {}):
        return f"models:/{name}@champion"
    if versions:
        return f"models:/{name}/{versions[-1]}"
    raise ShotError(f"registered model {name!r} has no version to serve")


@contextlib.contextmanager
def _model_server(url: str, state: _State, model: str | None) -> Iterator[str]:
    """Serve the example's registered model (its champion, else its latest version).

    A fork of this process (``start_local`` forks from a helper thread: the shooting
    thread runs Playwright's event loop).
    """
    from mltrack.deploy.local import start_local

    uri = _serving_uri(state, model)
    server = start_local(uri, auth=False, env={"MLFLOW_TRACKING_URI": url})
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def _team_server() -> Iterator[tuple[str, dict[str, str]]]:
    """A fresh ``ml server --auth`` (sqlite) and its admin's credentials, for one shot."""
    from mltrack._process import owned_tempdir
    from mltrack.teamserver import TeamServerConfig, team_server

    root = owned_tempdir("mltrack-teamserver-")  # reaped by a later build if we die
    password = token_urlsafe(24)
    # Given in the config, the admin's password reaches only the server's processes: the
    # examples running beside the shots copy this process's environment.
    config = TeamServerConfig(
        backend=f"sqlite:///{root / 'mlflow.db'}",
        artifacts=str(root / "artifacts"),
        auth=True,
        port=0,
        workers=1,
        state_dir=root / "state",
        admin_password=password,
    )
    try:
        with team_server(config) as server:
            yield server.url, {"username": "admin", "password": password}
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the browser -----------------------------------------------------------------------


class _Browser:
    """One Chromium for all the shots of a build (started on first use)."""

    def __init__(self, root: Path):
        self.root = root
        self._playwright: Any = None
        self._browser: Any = None
        self._failed: str | None = None
        # One context per set of credentials. Its routes (below) turn Chromium's HTTP
        # cache off, which costs little: measured here, loading MLflow's UI again in the
        # same context took the same CPU with the cache on (running the app dominates).
        self._contexts: dict[tuple[str, str] | None, Any] = {}

    def _start(self) -> Any:
        if self._failed is not None:
            raise ShotError(self._failed)  # one failed launch fails every shot alike
        if self._browser is None:
            from playwright.sync_api import sync_playwright

            path = chromium_path()
            if path is None:
                raise ShotError(f"Chromium not found; run `{FIX}`")
            # Chromium puts a socket under $TMPDIR, and a socket path is at most 107
            # bytes: a deep temporary directory (pytest's) would stop it at start.
            tmp = tempfile.gettempdir()
            env = {**os.environ, "TMPDIR": tmp if len(tmp) <= 40 else "/tmp"}
            self._playwright = sync_playwright().start()
            try:
                self._browser = self._playwright.chromium.launch(
                    executable_path=path, args=_CHROMIUM_ARGS, env=env
                )
            except Exception as exc:
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                self._failed = f"Chromium did not start ({first}); check `{path} --version`"
                raise ShotError(self._failed) from None
        return self._browser

    def _context(self, credentials: dict[str, str] | None) -> Any:
        key = (credentials["username"], credentials["password"]) if credentials else None
        if key not in self._contexts:
            context = self._start().new_context(
                viewport={"width": WIDTH, "height": DEFAULT_HEIGHT},
                device_scale_factor=1,
                reduced_motion="reduce",
                http_credentials=credentials,
            )
            context.add_init_script(_INIT_SCRIPT)
            context.route("**/*", self._route)
            self._contexts[key] = context
        return self._contexts[key]

    def forget(self, credentials: dict[str, str]) -> None:
        """Close the context of a server that is gone (a team server's admin)."""
        context = self._contexts.pop((credentials["username"], credentials["password"]), None)
        if context is not None:
            with contextlib.suppress(Exception):
                context.close()

    def close(self) -> None:
        for context in self._contexts.values():
            with contextlib.suppress(Exception):
                context.close()
        with contextlib.suppress(Exception):
            if self._browser is not None:
                self._browser.close()
        with contextlib.suppress(Exception):
            if self._playwright is not None:
                self._playwright.stop()

    def _route(self, route: Any) -> None:
        """Loopback only; Swagger UI's CDN files come from the vendored copy."""
        target = urllib.parse.urlsplit(route.request.url)
        if target.hostname in ("127.0.0.1", "localhost") or target.scheme in ("data", "blob"):
            route.continue_()
            return
        name = target.path.rsplit("/", 1)[-1]
        vendored = self.root / _VENDORED_SWAGGER / name
        if name.startswith("swagger-ui") and vendored.is_file():
            kind = "text/css" if name.endswith(".css") else "application/javascript"
            route.fulfill(status=200, content_type=kind, body=vendored.read_bytes())
            return
        route.abort()

    def shoot(
        self,
        target: str | None,
        html: str | None,
        height: int,
        scheme: str,
        check: bool,
        credentials: dict[str, str] | None = None,
    ) -> tuple[bytes, str]:
        """Open ``target`` (or show ``html``), wait for it to render, return PNG and text.

        Raises:
            ShotError: an HTTP error, an error page, or a view that never settles.
        """
        page = self._context(credentials).new_page()
        try:
            page.set_viewport_size({"width": WIDTH, "height": height})
            page.emulate_media(color_scheme=scheme)
            if html is not None:
                page.set_content(html, wait_until="load")
            else:
                assert target is not None
                response = page.goto(target, wait_until="load", timeout=RENDER_TIMEOUT_S * 1000)
                if response is not None and response.status >= 400:
                    raise ShotError(f"the server answered HTTP {response.status}")
            text = self._settle(page)
            if check:
                found = _ERROR_TEXT.search(text)
                if found:
                    line = next(ln for ln in text.splitlines() if found.group(0) in ln)
                    raise ShotError(f"the view shows an error: {line.strip()!r}")
            return page.screenshot(type="png"), text
        finally:
            with contextlib.suppress(Exception):
                page.close()

    @staticmethod
    def _settle(page: Any) -> str:
        last, stable = None, 0
        for _ in range(int(RENDER_TIMEOUT_S * 1000 / _POLL_MS)):
            state = page.evaluate(_STATE_JS)
            text = str(state["text"]).strip()
            # Compared masked: "12 seconds ago" ticks on a view that has long settled.
            if text and not state["busy"] and _mask_text(text, "") == last:
                stable += 1
                if stable >= _STABLE_POLLS:
                    return text
            else:
                stable = 0
            last = _mask_text(text, "")
            page.wait_for_timeout(_POLL_MS)
        raise ShotError(f"the view did not finish rendering within {RENDER_TIMEOUT_S:g} s")


def _mask_text(text: str, url: str) -> str:
    if url:
        text = text.replace(url, _PUBLIC_URL)
    for pattern, replacement in _TEXT_MASKS:
        text = pattern.sub(replacement, text)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line)[:_MAX_TEXT]


def _take(
    browser: _Browser,
    directive: Directive,
    state_of: Callable[[], _State],
    url: str,
    secrets: Callable[[str], str],
) -> Screenshot:
    options = directive.options
    app = options["screenshot"]
    height = int(options.get("height", DEFAULT_HEIGHT))
    shot = Screenshot(spec=spec_id(directive), where=directive.where, ok=False)
    with contextlib.ExitStack() as stack:
        html = None
        target: str | None = None
        credentials = None
        if app == "mlflow-ui":
            path = _mlflow_path(directive, state_of())
            target, shot.target = url + path, path
        elif app == "model-server":
            base = stack.enter_context(_model_server(url, state_of(), options.get("model")))
            path = options.get("url", "/docs")
            target, shot.target = base + path, path
        elif app == "team-server":
            base, credentials = stack.enter_context(_team_server())
            stack.callback(browser.forget, credentials)
            path = options.get("url", "/#/admin")
            target, shot.target = base + path, path
        else:
            # The card names the run's source file: relative to the project, as a reader
            # who ran the example from its root would see it, not this machine's path.
            html = _card_html(state_of()).replace(str(browser.root) + os.sep, "")
            shot.target = "model_card.html"
        images = {}
        # A model card is a printable document: white in both schemes (as it prints), so
        # its one image serves both.
        for scheme in ("light",) if app == "model-card" else ("light", "dark"):
            check = app != "model-card"
            png, text = browser.shoot(target, html, height, scheme, check, credentials)
            images[scheme] = png
            if scheme == "light":
                shot.text = _mask_text(text.replace(str(browser.root) + os.sep, ""), url)
        images.setdefault("dark", images["light"])
    if secrets(shot.text) != shot.text:
        raise ShotError("the view shows a secret (it is redacted in its text); keep it off")
    shot.light = base64.b64encode(images["light"]).decode()
    shot.dark = base64.b64encode(images["dark"]).decode()
    shot.width, shot.height, shot.ok = WIDTH, height, True
    return shot


def _shoot_item(
    browser: _Browser,
    item: Item,
    result: ItemResult,
    url: str,
    experiment: str | None,
    secrets: Callable[[str], str],
) -> None:
    shots: dict[str, Screenshot] = {}
    states: list[_State] = []

    def state_of() -> _State:
        if not states:  # only views of what the example left need its experiment
            states.append(_state(url, experiment))
        return states[0]

    for directive in item.screenshots:
        spec = spec_id(directive)
        if spec in shots:
            continue  # the same view on two pages: one shot
        started = time.monotonic()
        try:
            shots[spec] = _take(browser, directive, state_of, url, secrets)
        except ShotError as exc:
            shots[spec] = Screenshot(spec, directive.where, ok=False, error=str(exc))
        except Exception as exc:  # a browser or server failure: the block says which
            message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            shots[spec] = Screenshot(spec, directive.where, ok=False, error=message)
        shot = shots[spec]
        status = "ok" if shot.ok else "FAILED"
        seconds = time.monotonic() - started
        print(
            f"livedocs: screenshot {status:6} {directive.where} ({seconds:.1f} s)", file=sys.stderr
        )
    result.screenshots = list(shots.values())
    failed = [s for s in result.screenshots if not s.ok]
    if failed:
        result.ok = False
        result.error = ErrorInfo(
            "ScreenshotError",
            "; ".join(f"{s.where}: screenshot of {item.id}: {s.error}" for s in failed),
        )


class Photographer:
    """Shoots the ``screenshot:`` blocks of items as they finish, while the build goes on.

    The runner hands over each executed item (:meth:`add`); the views are shot on a
    thread of its own (Playwright's sync API refuses a thread with an event loop), one
    Chromium for the build, started with the first item that has blocks. Shooting right
    after an item ran shows the state it left (each example has its own experiment and
    models) and keeps the second core busy instead of leaving all shots to the end.
    Each shot goes into its item's result, which is stored in the cache again; a failed
    shot fails the item (never cached), naming the block's ``page:line``.

    Args:
        report: the build's results and experiments.
        url: the tracking server.
        cache: where results are kept (``None``: results are not cached).
        secrets: the build's redactor (a view whose text holds a secret is refused).
        root: the project root (for the vendored Swagger UI).
    """

    def __init__(
        self,
        report: BuildReport,
        url: str,
        cache: ResultCache | None,
        secrets: Callable[[str], str],
        root: Path,
    ):
        self._report, self._url, self._cache = report, url, cache
        self._secrets, self._root = secrets, root
        self._queue: queue.Queue[tuple[Item, ItemResult] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._done: list[ItemResult] = []
        self._failure: list[BaseException] = []

    def add(self, item: Item, result: ItemResult) -> None:
        """Queue an executed item's blocks (nothing to do without blocks or on failure)."""
        if not item.screenshots or not result.ok:
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="livedocs-screenshots", daemon=True
            )
            self._thread.start()
        self._queue.put((item, result))

    def finish(self) -> None:
        """Wait for the queued shots and store their items' results again.

        Raises:
            BaseException: what stopped the shooting thread (a browser that cannot start).
        """
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        self._thread = None
        if self._failure:
            raise self._failure[0]
        if self._cache is None:
            return
        for result in self._done:
            if result.ok:
                self._cache.store(result)  # again, now with its screenshots
            else:
                with contextlib.suppress(OSError):  # the ok entry stored before the shots
                    (self._cache.directory / "items" / f"{result.key}.json").unlink()
                self._cache.store_failure(result)

    def abort(self) -> None:
        """Stop after the shot in progress (the build failed or was interrupted)."""
        if self._thread is not None:
            while not self._queue.empty():
                with contextlib.suppress(queue.Empty):
                    self._queue.get_nowait()
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _work(self) -> None:
        browser = _Browser(self._root)
        try:
            while (job := self._queue.get()) is not None:
                item, result = job
                experiment = self._report.experiments.get(item.id)
                _shoot_item(browser, item, result, self._url, experiment, self._secrets)
                self._done.append(result)
        except BaseException as exc:
            self._failure.append(exc)
            while self._queue.get() is not None:  # let finish() find its end marker
                pass
        finally:
            browser.close()
