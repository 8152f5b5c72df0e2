"""Docstrings as the API pages show them: loaded by griffe as mkdocstrings loads them.

No site build: the package is loaded with the griffe extensions ``mkdocs.yml`` registers
and parsed with the Google parser, as mkdocstrings-python does before rendering.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import griffe
import pytest
import yaml

from mltrack.livedocs.griffe_docstrings import (
    api_modules,
    convert_literal_blocks,
    convert_roles,
    rendered_paths,
)

ROOT = Path(__file__).resolve().parents[2]
_ROLE = re.compile(r":(?:py:)?[a-z]+:`")
#: A code span of two or more backticks: where the docstrings quote markup.
_QUOTED = re.compile(r"(`{2,}).+?\1", re.S)
_CROSSREF = re.compile(r"\[`[^`]+`\]\[([^\]]+)\]")


class _TolerantLoader(yaml.SafeLoader):
    """Reads ``mkdocs.yml``: its ``!!python/name:`` tags become None."""


_TolerantLoader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)


def _python_handler_options() -> dict[str, Any]:
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=_TolerantLoader)  # noqa: S506
    (plugin,) = [
        p["mkdocstrings"] for p in config["plugins"] if isinstance(p, dict) and "mkdocstrings" in p
    ]
    options: dict[str, Any] = plugin["handlers"]["python"]["options"]
    return options


@pytest.fixture(scope="module")
def loaded() -> tuple[griffe.Module, griffe.ModulesCollection]:
    options = _python_handler_options()
    loader = griffe.GriffeLoader(
        extensions=griffe.load_extensions(*options.get("extensions", [])),
        search_paths=[str(ROOT)],
        docstring_parser=griffe.Parser(options["docstring_style"]),
    )
    package = loader.load("mltrack", try_relative_path=False)
    loader.resolve_aliases(implicit=False, external=False)
    return package, loader.modules_collection


def _on_pages(collection: griffe.ModulesCollection) -> dict[str, griffe.Object]:
    """Identifier on the API pages -> the object (its target for a re-export) shown there."""
    shown = {}
    for path in rendered_paths(collection, api_modules()).values():
        obj = collection.get_member(path)
        shown[path] = obj.final_target if isinstance(obj, griffe.Alias) else obj
    return shown


def _everything(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not isinstance(member, griffe.Alias):
            found += _everything(member)
    return found


def test_the_extension_is_registered_for_the_api_pages() -> None:
    extensions = _python_handler_options().get("extensions", [])
    assert "mltrack.livedocs.griffe_docstrings:SphinxToMarkdown" in extensions


def test_the_api_pages_show_no_sphinx_markup(loaded) -> None:
    _, collection = loaded
    shown = _on_pages(collection)
    assert "mltrack.tracking.flatten_params" in shown
    assert "mltrack.llm.LLMTracker" in shown, "re-exports count, under their public path"
    left = []
    for path, obj in shown.items():
        if obj.docstring is None:
            continue
        prose = _QUOTED.sub("``", obj.docstring.value)
        if _ROLE.search(prose):
            left.append(f"{path}: {_ROLE.search(prose).group(0)}")  # type: ignore[union-attr]
        for line in re.findall(r"^.*(?<!:)::[ \t]*$", prose, re.M):
            left.append(f"{path}: {line.strip()!r}")
    assert not left, left


def test_cross_references_point_at_objects_on_the_pages(loaded) -> None:
    """``mkdocs --strict`` fails on a reference it cannot resolve: only shown targets."""
    package, collection = loaded
    shown = _on_pages(collection)
    targets = {
        target
        for obj in _everything(package)
        if obj.docstring is not None
        for target in _CROSSREF.findall(_QUOTED.sub("``", obj.docstring.value))
    }
    assert targets, "the docstrings cross-reference each other"
    assert targets <= {*shown, *api_modules()}, targets - {*shown, *api_modules()}


def test_roles_become_links_to_public_paths_or_code(loaded) -> None:
    package, _ = loaded
    config = package["config"].docstring.value
    assert "[`ConfigError`][mltrack.errors.ConfigError]" in config
    # Defined in a private module, shown where it is exported.
    scopes = package["llm._scopes.LLMTracker"].docstring.value
    assert "[`BudgetWarning`][mltrack.llm.BudgetWarning]" in scopes
    # On no page (mltrack.transport is internal): a code span, no link.
    sender = package["logging.LogSender"].docstring.value
    assert "`TrackingTransport`" in sender
    assert "][mltrack.transport" not in sender
    run_handle = package["tracking.RunHandle"].docstring.value
    assert "(yielded by [`run()`][mltrack.tracking.run])" in run_handle


def test_literal_block_markers_are_gone(loaded) -> None:
    package, _ = loaded
    directives = package["livedocs.directives"].docstring.value
    assert "info string is ``livedocs``:\n" in directives
    assert "(light and dark scheme):\n" in directives
    assert "::\n" not in directives
    assert "\n    ```livedocs\n" in directives, "the block stays indented: a code block"


def _examples(obj: griffe.Object) -> list[str]:
    assert obj.docstring is not None
    return [
        text
        for section in obj.docstring.parsed
        if section.kind is griffe.DocstringSectionKind.examples
        for kind, text in section.value
        if kind is griffe.DocstringSectionKind.examples
    ]


def test_examples_render_as_code(loaded) -> None:
    package, _ = loaded
    (flatten,) = _examples(package["tracking.flatten_params"])
    assert flatten.startswith(">>> flatten_params(")
    assert "{'opt.lr': 0.1, 'opt.betas': (0.9, 0.99)}" in flatten, "the result line is kept"
    (serve,) = _examples(package["serve"])
    assert ">>> # uvicorn.run(app" in serve, "a comment line stays code, not a heading"


def test_doctest_lines_only_in_examples_sections(loaded) -> None:
    """``Example:`` (singular) is an admonition to griffe: its ``>>>`` become quotes."""
    package, _ = loaded
    wrong = []
    for obj in _everything(package):
        if obj.docstring is None:
            continue
        for section in obj.docstring.parsed:
            if section.kind is griffe.DocstringSectionKind.admonition:
                text = section.value.contents
            elif section.kind is griffe.DocstringSectionKind.text:
                text = section.value
            else:
                continue
            if re.search(r"^\s*>>>", text, re.M):
                wrong.append(f"{obj.path}: {section.title or section.kind.value}")
    assert not wrong, f"use an 'Examples:' section: {wrong}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (":class:`~mltrack.errors.ConfigError`", "[`ConfigError`][ID]"),
        (":class:`mltrack.errors.ConfigError`", "[`mltrack.errors.ConfigError`][ID]"),
        (":func:`run` and :meth:`Runner.run`", "[`run()`][ID] and [`Runner.run()`][ID]"),
        (":py:func:`run`", "[`run()`][ID]"),
        (":func:`the run block <run>`", "[`the run block`][ID]"),
        (":func:`!run`", "`run()`"),
        (":data:`unknown.NAME`", "`unknown.NAME`"),
        (":meth:`~unknown.Thing.stop`", "`stop()`"),
        ("``:class:`Kept` in code``", "``:class:`Kept` in code``"),
        ("no roles: a `code` span", "no roles: a `code` span"),
    ],
)
def test_convert_roles(text: str, expected: str) -> None:
    def resolve(target: str) -> str | None:
        return None if target.startswith("unknown") else "ID"

    assert convert_roles(text, resolve) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Syntax::\n\n    code\n", "Syntax:\n\n    code\n"),
        ("Syntax ::\n\n    code\n", "Syntax\n\n    code\n"),
        ("Text.\n\n::\n\n    code\n", "Text.\n\n\n\n    code\n"),
        ("``mkdocs.yml``::\n\n    plugins:\n", "``mkdocs.yml``:\n\n    plugins:\n"),
        ("Not a block:: here\nnext\n", "Not a block:: here\nnext\n"),
        ("::: mltrack.tracking\n", "::: mltrack.tracking\n"),
        (
            "Ends a line::\nbut no blank line follows\n",
            "Ends a line::\nbut no blank line follows\n",
        ),
    ],
)
def test_convert_literal_blocks(text: str, expected: str) -> None:
    assert convert_literal_blocks(text) == expected


# -- what the docstrings claim, against the code ------------------------------------------


def test_a_decorated_function_exposes_its_tracker_as_documented() -> None:
    from mltrack.llm import LLMTracker, track_llm

    @track_llm
    def ask() -> None: ...

    assert callable(ask.llm_tracker) and not hasattr(ask, "llm")  # type: ignore[attr-defined]
    assert "func.llm_tracker()" in (LLMTracker.__doc__ or "")


def test_budget_exceeded_once_the_cost_reaches_the_budget() -> None:
    from mltrack.config import Settings
    from mltrack.errors import BudgetExceeded
    from mltrack.llm import LLMTracker

    tracker = LLMTracker("t", Settings(), budget_usd=0.5, on_budget_exceeded="raise")
    tracker._totals.cost_usd = 0.5
    with pytest.raises(BudgetExceeded):
        tracker.check_budget()
    assert "reaches ``budget_usd``" in (BudgetExceeded.__doc__ or "")


def test_unknown_mltrack_variables_as_the_config_docs_say(tmp_path: Path) -> None:
    import mltrack.config
    from mltrack.config import load_settings
    from mltrack.errors import ConfigError

    load_settings(start=tmp_path, environ={"MLTRACK_BUDGET_USD": "3"})  # names no setting
    with pytest.raises(ConfigError, match="MLTRACK_LLM__BUDGET"):
        load_settings(start=tmp_path, environ={"MLTRACK_LLM__BUDGET": "3"})
    assert "ignored" in (mltrack.config.__doc__ or "")
