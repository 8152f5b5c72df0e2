"""A griffe extension: Sphinx markup in docstrings becomes Markdown on the API pages.

The docstrings are read in editors and by ``help()`` as much as on the site, and they
use the Sphinx roles most Python tools understand (``:class:``, ``:func:``, ``:meth:``,
``:mod:``, ``:data:``, ``:attr:``...) and ``text::`` before an indented literal block.
mkdocstrings renders Markdown, where both would show literally. This extension rewrites
them when mkdocstrings loads the package, before any docstring is parsed:

* a role becomes a cross-reference (``[`ConfigError`][mltrack.errors.ConfigError]``) when
  its target is certainly an object of the API pages, else a plain code span
  (``ConfigError``; ``run()`` for a function or a method), so ``mkdocs --strict`` never
  meets a reference it cannot resolve;
* ``text::`` that ends a paragraph becomes ``text:`` (``text ::`` becomes ``text`` and a
  lone ``::`` goes); the indented block after it is a Markdown code block already.

Registered in ``mkdocs.yml`` under the handler's options::

    plugins:
      - mkdocstrings:
          handlers:
            python:
              options:
                extensions:
                  - mltrack.livedocs.griffe_docstrings:SphinxToMarkdown

The docstrings themselves stay as they are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from griffe import (
    Alias,
    AliasResolutionError,
    CyclicAliasError,
    Extension,
    GriffeLoader,
    Module,
    ModulesCollection,
    NameResolutionError,
    Object,
)

__all__ = [
    "SphinxToMarkdown",
    "api_modules",
    "convert_docstring",
    "convert_literal_blocks",
    "convert_roles",
    "rendered_paths",
]

#: A Python-domain role (``:class:`x```, ``:py:func:`x```) or an inline code span; code
#: spans are matched too so that a role quoted inside one is left alone.
_ROLE_OR_CODE = re.compile(
    r"(?P<code>(?P<ticks>`{2,})(?:(?!(?P=ticks)).)+(?P=ticks))"
    r"|:(?:py:)?(?P<role>class|func|meth|mod|data|attr|exc|obj|const|type):`(?P<target>[^`]+)`"
)
#: ``title <target>``: a role with an explicit title.
_TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)
#: A line ending in ``::`` (not ``:::``) followed by a blank line: an RST literal block.
_LITERAL = re.compile(r"^(?P<text>.*?)(?P<space>[ \t]*)(?<!:)::[ \t]*$(?=\n[ \t]*(?:\n|$))", re.M)
_CALLABLE_ROLES = frozenset({"func", "meth"})
_LOOKUP_ERRORS = (KeyError, ValueError, AliasResolutionError, CyclicAliasError)


def api_modules() -> tuple[str, ...]:
    """The modules handed to mkdocstrings by the API reference, in page order."""
    from mltrack.livedocs.reference import API_GROUPS

    return tuple(module for group in API_GROUPS for module in group.modules)


def convert_roles(text: str, resolve: Callable[[str], str | None]) -> str:
    """Replace Sphinx roles in ``text`` with Markdown.

    Args:
        text: a docstring.
        resolve: role target (as written, without ``~`` or ``!``) -> the identifier of
            the object on the API pages, or ``None`` when it is on none of them.

    Returns:
        The text with each role as a cross-reference (``[`name`][identifier]``) when
        ``resolve`` finds its target, else as a code span. Code spans are kept as they are.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group("code"):
            return match.group(0)
        role, target = match.group("role"), match.group("target").strip()
        title = None
        titled = _TITLED.match(target)
        if titled:
            title, target = titled.group("title"), titled.group("target").strip()
        link = not target.startswith("!")
        short = target.startswith("~")
        target = target.lstrip("!~")
        if title is None:
            title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
            if role in _CALLABLE_ROLES and not title.endswith(")"):
                title += "()"
        identifier = resolve(target) if link else None
        code = f"`{title}`"
        return f"[{code}][{identifier}]" if identifier else code

    return _ROLE_OR_CODE.sub(replace, text)


def convert_literal_blocks(text: str) -> str:
    """``text::`` at the end of a paragraph -> ``text:``, as RST displays it.

    ``text ::`` loses the marker entirely and a paragraph that is only ``::`` goes.
    The indented block that follows is a code block in Markdown as it is.
    """

    def replace(match: re.Match[str]) -> str:
        body = match.group("text")
        if not body.strip():
            return ""
        return body if match.group("space") else body + ":"

    return _LITERAL.sub(replace, text)


def convert_docstring(text: str, resolve: Callable[[str], str | None]) -> str:
    """Both conversions: roles, then literal-block markers."""
    return convert_literal_blocks(convert_roles(text, resolve))


# -- what the API pages show ---------------------------------------------------------------


def _final_path(obj: Object | Alias) -> str | None:
    try:
        return obj.final_target.path if isinstance(obj, Alias) else obj.path
    except (AliasResolutionError, CyclicAliasError):
        return None


def _shown(member: Object | Alias) -> bool:
    """Whether mkdocstrings renders ``member`` with a heading of its own.

    Mirrors the handler options in ``mkdocs.yml`` (``filters: ["!^_"]``,
    ``show_if_no_docstring: false``, no submodules, no inherited members) and the
    template's rule for imported names: rendered only when public (in ``__all__``).
    """
    if member.name.startswith("_"):
        return False
    try:
        if member.inherited or member.is_module or not member.has_docstrings:
            return False
        return not member.is_imported or member.is_public
    except (AliasResolutionError, CyclicAliasError):
        return False


def _shown_members(obj: Object | Alias) -> Iterator[Object | Alias]:
    try:
        members = list(obj.members.values())
    except (AliasResolutionError, CyclicAliasError):
        return
    for member in members:
        if not _shown(member):
            continue
        yield member
        if member.is_class:
            yield from _shown_members(member)


def rendered_paths(collection: ModulesCollection, modules: Iterable[str]) -> dict[str, str]:
    """Where each object shown on the API pages is: canonical path -> its identifier there.

    An object shown twice (defined in one module, re-exported in another) keeps the
    identifier of the module that defines it when that module is on the pages too.
    Modules missing from ``collection`` are skipped.
    """
    found: dict[str, str] = {}
    for name in modules:
        try:
            module = collection.get_member(name)
        except _LOOKUP_ERRORS:
            continue
        found.setdefault(module.path, module.path)
        for member in _shown_members(module):
            canonical = _final_path(member)
            if canonical is not None and (canonical not in found or canonical == member.path):
                found[canonical] = member.path
    return found


def _lookup(owner: Object, target: str) -> Object | Alias | None:
    """The object a role in ``owner``'s docstring names: a full path, else in its scope."""
    collection = owner.modules_collection
    try:
        return collection.get_member(target)
    except _LOOKUP_ERRORS:
        pass
    first, _, rest = target.partition(".")
    try:
        base = owner.resolve(first)
        return collection.get_member(f"{base}.{rest}" if rest else base)
    except (*_LOOKUP_ERRORS, NameResolutionError):
        return None


def _documented(obj: Object) -> Iterator[Object]:
    """``obj`` and every object defined under it (aliases are someone else's)."""
    yield obj
    for member in obj.members.values():
        if not isinstance(member, Alias):
            yield from _documented(member)


class SphinxToMarkdown(Extension):
    """Rewrite Sphinx roles and literal-block markers in every docstring of a package.

    Args:
        modules: modules on the API pages (default: those of
            ``mltrack.livedocs.reference.API_GROUPS``); a role becomes a cross-reference
            only to an object they show.
    """

    def __init__(self, modules: list[str] | None = None) -> None:
        super().__init__()
        self.modules = tuple(modules) if modules is not None else api_modules()

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        """Convert the docstrings of ``pkg`` once it is loaded, before any is parsed."""
        rendered = rendered_paths(loader.modules_collection, self.modules)
        for obj in _documented(pkg):
            docstring = obj.docstring
            if docstring is None:
                continue

            def resolve(target: str, owner: Object = obj) -> str | None:
                found = _lookup(owner, target)
                path = _final_path(found) if found is not None else None
                return rendered.get(path) if path is not None else None

            value = convert_docstring(docstring.value, resolve)
            if value != docstring.value:
                docstring.value = value
                docstring.__dict__.pop("parsed", None)  # a cached parse of the old text
