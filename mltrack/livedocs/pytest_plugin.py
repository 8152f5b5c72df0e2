"""pytest plugin: every example, notebook and executable snippet the docs embed is a test.

Installed with mltrack as the ``pytest11`` entry point ``livedocs``; enable it with
``pytest --livedocs examples notebooks docs``. Items are run by the same
engine, cache, timeouts and error format as the docs build, so ``make test`` and
``make build`` never disagree; ``-k``, ``-x`` and xdist work as usual (each xdist worker
starts its own throwaway server, only when something is not cached). Test ids are paths:
``examples/quickstart.py::livedocs``, ``notebooks/tour.ipynb::livedocs`` and
``docs/guide.md::line-12`` for a snippet.

``--livedocs-server URL`` (or ``MLTRACK_LIVEDOCS_SERVER``) runs the items against a
tracking server that is already running instead: no server start per session or per
xdist worker. Each item still gets an experiment of its own there (``name``, else the
first free ``name-2``, ``name-3``...), so sessions sharing the server never mix runs.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from mltrack.livedocs.engine import LiveDocsEngine, config_from_settings
from mltrack.livedocs.model import Item, ItemResult, Plan
from mltrack.livedocs.runner import format_failure

__all__ = ["SERVER_ENV", "LiveDocsFailure", "LiveDocsFile", "LiveDocsItem", "check_server_url"]

#: The default of ``--livedocs-server`` (handy in CI, where a service container serves).
SERVER_ENV = "MLTRACK_LIVEDOCS_SERVER"
_SERVER_OPTION = "--livedocs-server"

#: The session's engine, plan and server; ``executed``/``cached`` count the items.
_STATE: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("livedocs")
    group.addoption(
        "--livedocs",
        action="store_true",
        help="collect the examples, notebooks and snippets the docs embed as tests",
    )
    group.addoption(
        _SERVER_OPTION,
        metavar="URL",
        default=None,
        help="run the items against this running MLflow tracking server (http(s)://host:port)"
        f" instead of starting a throwaway one per session (default: ${SERVER_ENV})",
    )


def check_server_url(url: str, source: str = _SERVER_OPTION, probe: bool = True) -> str:
    """Validate a tracking server given to the plugin; return it without a trailing ``/``.

    Args:
        url: what was given.
        source: where it came from, named in the error (the option or the variable).
        probe: check that it answers (an xdist worker's controller has done so).

    Raises:
        pytest.UsageError: not an ``http(s)://`` URL, credentials in it, or no answer on
            ``/health``: one line naming ``source`` and the fix.
    """
    parts = urllib.parse.urlsplit(url.strip())
    without = "unset it" if source == SERVER_ENV else "leave it out"
    if parts.username is not None or parts.password is not None:
        # Never echoed (a password); and the workers' urllib probe would refuse it.
        raise pytest.UsageError(
            f"{source} holds credentials; give the bare URL and set MLFLOW_TRACKING_USERNAME"
            " and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) instead"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(
            f"{source} {url!r} is not an http(s) URL; give the tracking server's address,"
            f" e.g. http://127.0.0.1:5000, or {without} to start a throwaway server"
        )
    bare = urllib.parse.urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
    if not probe:
        return bare
    try:
        with urllib.request.urlopen(bare + "/health", timeout=5) as response:
            healthy = response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        healthy = False
    if not healthy:
        raise pytest.UsageError(
            f"{source} {bare}: no tracking server answers on /health; start it"
            f" (`mlflow server`, `ml server`) or {without} to start a throwaway server"
        )
    return bare


def pytest_configure(config: pytest.Config) -> None:
    given = config.getoption("livedocs_server")
    if not config.getoption("livedocs"):
        if given:
            raise pytest.UsageError(f"{_SERVER_OPTION} applies to --livedocs runs; add --livedocs")
        return
    source = _SERVER_OPTION
    if not given and os.environ.get(SERVER_ENV, "").strip():
        given, source = os.environ[SERVER_ENV], SERVER_ENV
    if not given:
        return
    _STATE["given_source"] = source
    # An xdist worker's controller has probed it already.
    _STATE["given"] = check_server_url(given, source, probe=not hasattr(config, "workerinput"))


def _engine(config: pytest.Config) -> tuple[LiveDocsEngine, Plan]:
    if "engine" not in _STATE:
        root = Path(str(config.rootpath)).resolve()
        engine = LiveDocsEngine(config_from_settings(root), progress=lambda *args: None)
        _STATE["engine"] = engine
        _STATE["plan"] = engine.plan(engine.read_pages())
    return _STATE["engine"], _STATE["plan"]


def _server_url() -> str:
    """The given server (``--livedocs-server``), else the session's own, started now."""
    if "given" in _STATE:
        return str(_STATE["given"])
    if "server" not in _STATE:
        from mltrack.localserver import start_server

        _STATE["server"] = start_server()
        _STATE["startup_s"] = _STATE["server"].startup_s
    return str(_STATE["server"].url)


def pytest_sessionfinish(session: pytest.Session) -> None:
    server = _STATE.pop("server", None)
    if server is not None:
        server.stop()
        _STATE["own_servers"] = 1
    summary = {k: _STATE.get(k, 0) for k in ("executed", "cached", "own_servers", "startup_s")}
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: its controller prints the summary
        workeroutput["livedocs"] = summary


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: add up what each worker ran (see :func:`pytest_sessionfinish`)."""
    summary = getattr(node, "workeroutput", {}).get("livedocs") or {}
    for key, value in summary.items():
        before = _STATE.get(key, 0)
        # Counts add up; of the servers' start times, the slowest is shown.
        _STATE[key] = max(before, value) if key == "startup_s" else before + value


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line: how many items ran, on which server, and how many were cached."""
    executed, cached = _STATE.get("executed", 0), _STATE.get("cached", 0)
    if not config.getoption("livedocs") or not executed + cached:
        return
    if not executed:
        line = f"{_plural(cached, 'item')} cached; no tracking server needed"
    elif "given" in _STATE:
        line = (
            f"{_plural(executed, 'item')} ran on the tracking server {_STATE['given']}"
            f" ({_STATE['given_source']}); {cached} cached"
        )
    else:
        line = (
            f"{_plural(executed, 'item')} ran on"
            f" {_plural(_STATE.get('own_servers', 0), 'throwaway tracking server')}"
            f" (healthy in {_STATE.get('startup_s', 0.0):.1f} s, now stopped); {cached} cached"
        )
    terminalreporter.write_line(f"livedocs: {line}", bold=True)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def pytest_unconfigure(config: pytest.Config) -> None:
    _STATE.clear()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if not parent.config.getoption("livedocs"):
        return None
    if file_path.suffix not in (".py", ".ipynb", ".md"):
        return None
    engine, plan = _engine(parent.config)
    rel = str(file_path.resolve().relative_to(engine.config.root))
    wanted = [i for i in plan.items.values() if i.path == rel and i.page_line is None]
    wanted += [
        i for i in plan.items.values() if i.page_line is not None and i.id.startswith(rel + ":")
    ]
    if not wanted:
        return None
    return LiveDocsFile.from_parent(parent, path=file_path, items=wanted)


@pytest.hookimpl(tryfirst=True)
def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> Any:
    """An example named on the command line is a livedocs item, not a test module.

    pytest imports any ``.py`` file named explicitly; importing an example runs it in the
    test process, in the project directory, a second time.
    """
    if not parent.config.getoption("livedocs"):
        return None
    engine, plan = _engine(parent.config)
    rel = str(module_path.resolve().relative_to(engine.config.root))
    if any(i.path == rel and i.page_line is None for i in plan.items.values()):
        return _NotATestModule.from_parent(parent, path=module_path)
    return None


class _NotATestModule(pytest.File):
    def collect(self) -> list[pytest.Item]:
        return []


class LiveDocsFile(pytest.File):
    """A file holding live docs items (a script, a notebook, or a page's snippets)."""

    def __init__(self, *, items: list[Item], **kwargs: Any):
        super().__init__(**kwargs)
        self.livedocs_items = items

    def collect(self) -> list[pytest.Item]:
        return [
            LiveDocsItem.from_parent(
                self,
                name="livedocs" if item.page_line is None else f"line-{item.page_line}",
                item=item,
            )
            for item in self.livedocs_items
        ]


class LiveDocsFailure(Exception):
    """An item failed; the message is the engine's ``page:line -> file:line`` report."""


class LiveDocsItem(pytest.Item):
    """One executed item: passes when it runs without error (or is validly cached)."""

    def __init__(self, *, item: Item, **kwargs: Any):
        super().__init__(**kwargs)
        self.livedocs_item = item

    def runtest(self) -> None:
        engine, _ = _engine(self.config)
        result = engine.runner.cached(self.livedocs_item)
        if result is None:
            single = Plan(items={self.livedocs_item.id: self.livedocs_item})
            # A given server may hold state of its own: what ran on it is not cached for
            # the site (the session's own server is a fresh one).
            report = engine.runner.run(
                single, server_url=_server_url(), cache_results="given" not in _STATE
            )
            result = report.results[self.livedocs_item.id]
            _STATE["executed"] = _STATE.get("executed", 0) + 1
        else:
            _STATE["cached"] = _STATE.get("cached", 0) + 1
        self._check(result)

    def _check(self, result: ItemResult) -> None:
        if not result.ok:
            raise LiveDocsFailure(format_failure(self.livedocs_item, result))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, LiveDocsFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.livedocs_item.page_line, self.livedocs_item.id
