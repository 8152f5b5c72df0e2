"""What an item uses of the project: the modules it imports and the files it opens.

Loaded by path (the ``mltrack`` package is not imported before an item runs) by the
worker (``worker.py``) for scripts and, through a silent execution, into a notebook's
kernel (``worker_notebooks.py``). A file the item used is a dependency: when it changes,
the item's cached result is stale. Only the standard library is imported.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "child_opens",
    "dependencies",
    "preimport",
    "preload_frameworks",
    "preload_llm_sdks",
    "project_files",
    "record_imports",
    "trace_children",
    "trace_kernel",
    "trace_opens",
    "warm_realpaths",
]

#: Modules loaded before this one (the worker's own, stdlib only) and this module itself:
#: never dependencies of an example.
_BASELINE = frozenset(sys.modules)
#: Module name -> the pre-import that loaded it (:func:`preimport`). The warm pool
#: pre-imports what *any* example imports; such a module is a dependency of an item only
#: when the item's own code imports something of the same pre-import.
_PRELOADED: dict[str, str] = {}


@contextlib.contextmanager
def _loaded_by(group: str, own: str | None = None) -> Iterator[None]:
    """Attribute each module first loaded in the block to ``group`` (mltrack's own
    modules to ``own`` when given): only items importing that group depend on them."""
    before = set(sys.modules)
    try:
        yield
    finally:
        for loaded in sys.modules.keys() - before:
            mine = loaded.split(".", 1)[0] == "mltrack"
            _PRELOADED.setdefault(loaded, own if own is not None and mine else group)


def preimport(modules: list[str]) -> None:
    """Import ``modules`` before the item (the warm pool, mlflow for a script), noting
    which pre-import loaded each module."""
    import importlib
    import warnings

    for name in modules:
        # A failing import is left for the example itself to report.
        with _loaded_by(name), warnings.catch_warnings(), contextlib.suppress(Exception):
            warnings.simplefilter("ignore")
            importlib.import_module(name)


def loaded_project_files() -> dict[str, int]:
    """Modification times (ns) of the loaded modules' files outside the interpreter's own
    trees: the project's code, which a pool kept between builds must not hold stale."""
    skip = tuple({sys.prefix, sys.base_prefix, sys.exec_prefix})
    files: dict[str, int] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and not path.startswith(skip):
            with contextlib.suppress(OSError):
                files[path] = os.stat(path).st_mtime_ns
    return files


def preload_frameworks(modules: list[str]) -> None:
    """In the warm pool of a project whose examples use mltrack and scikit-learn, do
    MLflow's slow first-use work once (``mltrack.frameworks.preload``: seconds per item
    otherwise). What it loads counts as pre-imported by ``sklearn``, and mltrack's own
    modules by ``mltrack``, so only items importing those depend on them."""
    roots = {name.split(".", 1)[0] for name in modules}
    if not {"mltrack", "sklearn"} <= roots:
        return
    import importlib

    # A broken install is for the items to report.
    with _loaded_by("sklearn", own="mltrack"), contextlib.suppress(Exception):
        importlib.import_module("mltrack.frameworks").preload()


#: LLM vendor SDK -> what a tracked call loads after the SDK itself: MLflow's autologging
#: for it, the client classes both patch, the client's HTTP transport and MLflow's span
#: processor (none reads the environment when imported): modules, or ``module:attribute``
#: where the SDK loads a submodule lazily, at the attribute's first use.
_LLM_SDKS = {
    "openai": (
        "openai",
        "mlflow.openai",
        "openai.resources.chat.completions:Completions",
        "openai.resources.completions:Completions",
        "openai.resources.embeddings:Embeddings",
        "openai.resources.images:Images",
        "openai.resources.beta.chat.completions:Completions",
        "openai.resources.responses:Responses",
        "httpcore2",
        "h11",
        "h2.connection",
        "truststore",
        "mlflow.tracing.processor.mlflow_v3",
    ),
    "anthropic": (
        "anthropic",
        "mlflow.anthropic",
        "anthropic.resources.messages:Messages",
        "mlflow.tracing.processor.mlflow_v3",
    ),
}


def preload_llm_sdks(modules: list[str]) -> None:
    """In the warm pool of a project whose examples use mltrack and an LLM SDK it tracks,
    import what ``mltrack.llm`` loads to instrument that SDK (about a second of CPU per
    item and SDK otherwise). Only imports: each item instruments them with its own
    settings at its first tracked call. What they load counts as pre-imported by the SDK."""
    roots = {name.split(".", 1)[0] for name in modules}
    if "mltrack" not in roots:
        return
    import importlib
    import importlib.util
    import warnings

    for sdk, names in _LLM_SDKS.items():
        if sdk not in roots:
            continue  # no example imports it: no item would use what it loads
        try:
            if importlib.util.find_spec(sdk) is None:
                continue
        except (ImportError, ValueError):
            continue
        with _loaded_by(sdk, own="mltrack"):
            for name in names:
                module, _, attribute = name.partition(":")
                # A failing import (a class this version lacks) is for the examples to meet.
                with warnings.catch_warnings(), contextlib.suppress(Exception):
                    warnings.simplefilter("ignore")
                    getattr(importlib.import_module(module), attribute or "__name__")


def record_imports(used: set[str]) -> None:
    """Record every module name the item's code imports (at any depth, while it runs).

    Modules the worker pre-imported are already in ``sys.modules`` when the item starts,
    so only the import statements tell whether the item uses them.
    """
    import builtins
    import importlib

    original_import = builtins.__import__
    original_import_module = importlib.import_module

    def note(name: object) -> None:
        if isinstance(name, str):
            parts = name.split(".")
            used.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))

    def recording_import(
        name: str,
        globals: Any = None,  # noqa: A002 - the signature of builtins.__import__
        locals: Any = None,  # noqa: A002
        fromlist: Any = (),
        level: int = 0,
    ) -> Any:
        module = original_import(name, globals, locals, fromlist, level)
        # With a from-list (or a relative import) the result is the named module itself.
        full = getattr(module, "__name__", name) if fromlist or level else name
        note(full)
        for attr in fromlist or ():
            if isinstance(attr, str) and attr != "*":
                used.add(f"{full}.{attr}")
        return module

    def recording_import_module(name: str, package: str | None = None) -> Any:
        module = original_import_module(name, package)
        note(getattr(module, "__name__", name))
        return module

    builtins.__import__ = recording_import
    importlib.import_module = recording_import_module


_SKIP_PARTS = {".venv", "venv", ".git", ".cache", "site", "__pycache__", "node_modules"}


def trace_opens(opened: list[str]) -> None:
    """Record every file the example opens (an audit hook; it cannot be removed)."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open" and args and isinstance(args[0], str | os.PathLike):
            opened.append(os.fspath(args[0]))

    sys.addaudithook(hook)


_REALPATHS: dict[str, str] = {}
_REALDIRS: dict[str, str] = {}


def _realpath(path: str) -> str:
    """``os.path.realpath``, memoised per path and per folder.

    An item loads and opens thousands of files in a few hundred folders: resolving each
    folder once and checking only whether the file itself is a link costs one ``lstat``
    per file instead of one per path component (seconds of CPU per build otherwise).
    """
    real = _REALPATHS.get(path)
    if real is None:
        folder, name = os.path.split(path)
        if name in ("", ".", "..") or os.path.islink(path):
            real = os.path.realpath(path)
        else:
            real_folder = _REALDIRS.get(folder)
            if real_folder is None:
                real_folder = _REALDIRS[folder] = os.path.realpath(folder or os.curdir)
            real = os.path.join(real_folder, name)
        _REALPATHS[path] = real
    return real


def warm_realpaths() -> None:
    """Resolve the loaded modules' files now, in the pool before it forks: every item
    inherits the answers instead of resolving the same files again."""
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and path:
            _realpath(path)


def dependencies(
    root: str, script: str, opened: list[str], cwd: str, used: set[str] | None = None
) -> list[str]:
    """Project files the item used: imported local modules and files it read.

    Args:
        root: project root; only files under it count.
        script: the item's own file (its content is in the cache key already).
        opened: paths of files the item opened (audit hook).
        cwd: directory relative opened paths are resolved against.
        used: module names the item's code imported (:func:`record_imports`): a
            pre-imported module counts only when its pre-import was used. ``None``
            counts every module loaded after the worker's own.
    """
    groups = {_PRELOADED[name] for name in used if name in _PRELOADED} if used is not None else None
    paths = {
        getattr(module, "__file__", None)
        for name, module in list(sys.modules.items())
        if name not in _BASELINE
        and (groups is None or name not in _PRELOADED or _PRELOADED[name] in groups)
    }
    paths.update(os.path.join(cwd, p) for p in opened)
    return project_files(root, paths, exclude=script)


def project_files(root: str, paths: Iterable[object], exclude: str | None = None) -> list[str]:
    """The files among ``paths`` that lie in the project (relative to ``root``), sorted.

    Caches, virtual environments, the built site and ``exclude`` (the item's own file) are
    left out.
    """
    root_real = _realpath(root)
    exclude_real = _realpath(exclude) if exclude else None
    found = set()
    for path in paths:
        if not isinstance(path, str) or not path:
            continue
        real = _realpath(path)
        if real == exclude_real or not real.startswith(root_real + os.sep):
            continue
        rel = os.path.relpath(real, root_real)
        if _SKIP_PARTS.intersection(rel.split(os.sep)) or not os.path.isfile(real):
            continue
        found.add(rel)
    return sorted(found)


_CHILD_TRACE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "childtrace")


def trace_children(root: str, out_dir: Path) -> Path:
    """Make every Python process the item starts record the project files it opens.

    ``childtrace/sitecustomize.py`` goes first on ``PYTHONPATH``; the processes inherit it
    (and where to write) through the environment. Returns the folder they write to.
    """
    target = out_dir / "child-opens"
    target.mkdir(exist_ok=True)
    inherited = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [_CHILD_TRACE, inherited] if inherited else [_CHILD_TRACE]
    )
    os.environ["MLTRACK_LIVEDOCS_CHILD_OPENS"] = str(target)
    os.environ["MLTRACK_LIVEDOCS_ROOT"] = root
    return target


def child_opens(target: Path) -> list[str]:
    """What the item's child processes opened, compiled modules mapped to their source."""
    found = []
    for record in sorted(target.glob("*.txt")):
        for path in record.read_text(errors="replace").splitlines():
            folder, name = os.path.split(path)
            if os.path.basename(folder) == "__pycache__" and name.endswith(".pyc"):
                path = os.path.join(os.path.dirname(folder), name.split(".", 1)[0] + ".py")
            found.append(path)
    return found


def trace_kernel(root: str, notebook: str, target: str) -> None:
    """Inside a notebook's kernel: record its project dependencies into ``target``.

    The notebook's folder goes first on ``sys.path`` (as when Jupyter runs it there), so
    it imports the modules next to it like a script does. After every cell the
    dependencies found so far are written to ``target`` (JSON list of relative paths).

    Args:
        root: project root.
        notebook: the notebook's path.
        target: where the dependencies go.
    """
    from IPython import get_ipython

    sys.path.insert(0, os.path.dirname(notebook))
    opened: list[str] = []
    used: set[str] = set()
    trace_opens(opened)
    record_imports(used)
    seen: list[tuple[int, int]] = [(-1, -1)]

    def dump(*_: Any) -> None:
        if (len(sys.modules), len(opened)) == seen[0]:
            return  # nothing imported or opened since the last cell
        deps = dependencies(root, notebook, opened, os.getcwd(), used)
        partial = f"{target}.tmp"
        with open(partial, "w") as fh:
            json.dump(deps, fh)
        os.replace(partial, target)
        seen[0] = (len(sys.modules), len(opened))  # after our own write's open

    shell = get_ipython()
    if shell is None:
        raise RuntimeError("livedocs: trace_kernel runs inside an IPython kernel only")
    shell.events.register("post_run_cell", dump)
    dump()
