"""mltrack's modules import each other without cycles, in any order.

A cycle hidden by an import inside a function still breaks: whichever module is imported
first decides whether the other sees a half-initialised module. Both checks below count
every import a module can run (top level and inside functions), except those under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mltrack"

#: Pairs that once imported each other (lazily, to dodge the cycle): now one way at most.
FIXED_CYCLES = [
    ("mltrack.logging", "mltrack.tracking"),
    ("mltrack.llm._instrument", "mltrack.llm._tracker"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _under_type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(name: str, path: Path, modules: set[str]) -> set[str]:
    """The mltrack modules that ``name`` may import (``from a import b``: ``a.b`` if a module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    nodes: list[ast.AST] = [ast.parse(path.read_text(), str(path))]
    while nodes:
        node = nodes.pop()
        for child in ast.iter_child_nodes(node):
            if _under_type_checking(child):
                nodes.extend(child.orelse)  # type: ignore[attr-defined]
                continue
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - child.level + 1]
                    source = ".".join(base + ([child.module] if child.module else []))
                else:
                    source = child.module or ""
                for alias in child.names:
                    full = f"{source}.{alias.name}"
                    found.add(full if full in modules else source)
            nodes.append(child)
    # Importing mltrack.a.b runs mltrack/a/__init__.py first, unless the importer is in it.
    with_parents = set(found)
    for target in found:
        parent = target.rpartition(".")[0]
        while parent and not name.startswith(parent + ".") and name != parent:
            with_parents.add(parent)
            parent = parent.rpartition(".")[0]
    return {m for m in with_parents if m in modules and m != name}


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """``{module: modules it may import}`` over the mltrack package."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: _imported_names(name, path, modules) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_graph_sees_imports_inside_functions() -> None:
    """The checker itself: a lazy import is an edge, a TYPE_CHECKING one is not."""
    graph = import_graph()
    # mltrack.tracking imports mltrack.logging inside its functions only.
    assert "mltrack.logging" in graph["mltrack.tracking"]
    # mltrack.run_context names mltrack.tracking under TYPE_CHECKING only.
    assert "mltrack.tracking" not in graph["mltrack.run_context"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_in_mltrack() -> None:
    graph = import_graph()
    for first, second in FIXED_CYCLES:
        assert not (first in graph[second] and second in graph[first]), (first, second)
    assert cycles(graph) == [], "import cycles (each line: modules that import each other)"


def test_the_library_never_imports_the_cli() -> None:
    """Only the CLI, ``python -m mltrack`` and the CLI's own modules import ``mltrack.cli``
    (the docs engine loads the app it documents by name, see ``load_cli``)."""
    graph = import_graph()
    importers = sorted(
        name
        for name, imported in graph.items()
        if any(dep == "mltrack.cli" or dep.startswith("mltrack.cli.") for dep in imported)
        and not (name == "mltrack.cli" or name.startswith("mltrack.cli."))
    )
    assert importers in ([], ["mltrack.__main__"]), importers


_IMPORT_IN_ORDER = textwrap.dedent(
    """
    import importlib, sys
    for order in sys.argv[1:]:
        for loaded in [m for m in sys.modules if m == "mltrack" or m.startswith("mltrack.")]:
            del sys.modules[loaded]
        for name in order.split(","):
            importlib.import_module(name)
    """
)


def test_the_fixed_pairs_import_in_either_order() -> None:
    """In a fresh interpreter, each module of a fixed pair may be the first one loaded.

    Third-party packages stay loaded between orders (that is what is slow); mltrack's own
    are forgotten before each, so each order starts its own import chain.
    """
    orders = [f"{a},{b}" for a, b in FIXED_CYCLES] + [f"{b},{a}" for a, b in FIXED_CYCLES]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_IN_ORDER, *orders],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
