"""pytest plugin: every example, notebook and executable snippet the docs embed is a test.

Installed with mltrack as the ``pytest11`` entry point ``livedocs``; enable it with
``pytest --livedocs examples notebooks docs``. Items are run by the same
engine, cache, timeouts and error format as the docs build, so ``make test`` and
``make build`` never disagree; ``-k``, ``-x`` and xdist work as usual (each xdist worker
starts its own throwaway server, only when something is not cached). Test ids are paths:
``examples/quickstart.py::livedocs``, ``notebooks/tour.ipynb::livedocs`` and
``docs/guide.md::line-12`` for a snippet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mltrack.livedocs.engine import LiveDocsEngine, config_from_settings
from mltrack.livedocs.model import Item, ItemResult, Plan
from mltrack.livedocs.runner import format_failure

__all__ = ["LiveDocsFailure", "LiveDocsFile", "LiveDocsItem"]

_STATE: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("livedocs")
    group.addoption(
        "--livedocs",
        action="store_true",
        help="collect the examples, notebooks and snippets the docs embed as tests",
    )


def _engine(config: pytest.Config) -> tuple[LiveDocsEngine, Plan]:
    if "engine" not in _STATE:
        root = Path(str(config.rootpath)).resolve()
        engine = LiveDocsEngine(config_from_settings(root), progress=lambda *args: None)
        _STATE["engine"] = engine
        _STATE["plan"] = engine.plan(engine.read_pages())
    return _STATE["engine"], _STATE["plan"]


def _server_url() -> str:
    if "server" not in _STATE:
        from mltrack.localserver import start_server

        _STATE["server"] = start_server()
    return str(_STATE["server"].url)


def pytest_sessionfinish(session: pytest.Session) -> None:
    server = _STATE.pop("server", None)
    if server is not None:
        server.stop()
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
            report = engine.runner.run(single, server_url=_server_url())
            result = report.results[self.livedocs_item.id]
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
