"""Find ``livedocs`` directives in Markdown pages.

The one syntax is a fenced block whose info string is ``livedocs``::

    ```livedocs
    file: examples/quickstart.py
    show: both          # code | output | both
    lines: 5-30
    hl_lines: 7 9
    title: Train a model
    ```

or ``cli: ml --help`` instead of ``file:``. A view of what an example left on the
server, shot in Chromium at build time (light and dark scheme)::

    ```livedocs
    screenshot: mlflow-ui      # mlflow-ui | model-server | model-card | team-server
    of: examples/quickstart.py
    view: experiment           # experiment run trace model compare | docs | card | admin
    alt: The quick start's three runs in the MLflow UI
    ```

A sample with several forms (Python, CLI, REST)
is one block of language tabs, each tab an item of its own::

    ```livedocs
    tabs:
      Python: examples/registry_promote.py     # a .py path: a file
      CLI: ml models cancer-screening           # anything else: a `cli:` command
      REST:                                     # or the long form, with per-tab options
        file: examples/registry_rest.py
        show: output
    ```

It becomes one :class:`Directive` per tab; together their lines cover the block, so each
renders (and reports errors) on its own. A short snippet can also run in place: a
```` ```python livedocs ```` block executes its own code like an example. Fences nested in a longer fence (for
instance a ```` ````markdown ```` block that shows the syntax) are not directives.
Indented fences (inside admonitions or content tabs) are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mltrack.errors import LiveDocsError

__all__ = ["SCREENSHOT_VIEWS", "Directive", "find_directives"]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_KEYS = {"file", "cli", "show", "lines", "hl_lines", "title", "allow_error"}
_SHOW = {"code", "output", "both", "markdown"}
#: What a ``screenshot:`` block may show: app -> its views (the first is the default).
SCREENSHOT_VIEWS = {
    "mlflow-ui": ("experiment", "run", "trace", "model", "compare"),
    "model-server": ("docs",),
    "model-card": ("card",),
    "team-server": ("admin",),
}
#: Keys of a ``screenshot:`` block (``url:`` replaces ``view:``; ``model``, ``run``,
#: ``sort`` and ``height`` pick what is shown).
_SCREENSHOT_KEYS = {"screenshot", "of", "view", "url", "alt", "model", "run", "sort", "height"}
#: Keys of a ``tabs:`` block itself: defaults for every tab.
_TAB_DEFAULTS = {"show", "allow_error"}


@dataclass
class Directive:
    """One ``livedocs`` block of a page.

    Attributes:
        page: page path as given to :func:`find_directives` (e.g. ``docs/guide.md``).
        line: 1-based line of the opening fence in the page.
        end_line: 1-based line of the closing fence.
        indent: leading whitespace of the fence, re-applied to the rendered block.
        options: parsed ``key: value`` pairs.
    """

    page: str
    line: int
    end_line: int
    indent: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> str | None:
        return self.options.get("file")

    @property
    def snippet(self) -> str | None:
        """Source of an executable ```` ```python livedocs ```` block."""
        return self.options.get("snippet")

    @property
    def cli(self) -> str | None:
        return self.options.get("cli")

    @property
    def show(self) -> str:
        return self.options.get("show", "both")

    @property
    def screenshot(self) -> str | None:
        """The app a ``screenshot:`` block shows (``mlflow-ui``...), else ``None``."""
        return self.options.get("screenshot")

    @property
    def tab(self) -> str | None:
        """Label of the language tab this directive renders, for one of a ``tabs:`` block."""
        return self.options.get("tab")

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse_line_spec(spec: str) -> list[int]:
    """Parse ``"7 9"``, ``"7,9"`` or ``"3-5 8"`` into a sorted list of line numbers."""
    numbers: set[int] = set()
    for part in re.split(r"[\s,]+", spec.strip()):
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            numbers.update(range(int(lo), int(hi) + 1))
        else:
            numbers.add(int(part))
    return sorted(numbers)


def _parse_pair(where: str, text: str) -> tuple[str, str]:
    """One ``key: value`` line (comment-stripped except for ``title``/``cli``)."""
    if ":" not in text:
        raise LiveDocsError(f"expected 'key: value' in a livedocs block, got {text!r}", where=where)
    key, value = (s.strip() for s in text.split(":", 1))
    if key in ("title", "cli", "alt"):
        if key != "cli" and len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
    elif key == "url":
        value = re.sub(r"\s+#\s.*$", "", value)  # `/#/models` is a path, not a comment
    else:
        value = re.sub(r"(^|\s+)#.*$", "", value)  # trailing comment
    if key not in _KEYS | _SCREENSHOT_KEYS:
        known = ", ".join(sorted(_KEYS | {"tabs", "screenshot"}))
        raise LiveDocsError(f"unknown livedocs option {key!r}; use one of {known}", where=where)
    return key, value


def _check_screenshot(where: str, options: dict[str, str]) -> dict[str, str]:
    app = options["screenshot"]
    unknown = sorted(set(options) - _SCREENSHOT_KEYS)
    if unknown:
        raise LiveDocsError(
            f"{unknown[0]!r} is not an option of a screenshot block; use "
            + ", ".join(sorted(_SCREENSHOT_KEYS)),
            where=where,
        )
    if app not in SCREENSHOT_VIEWS:
        raise LiveDocsError(
            f"screenshot must be one of {', '.join(SCREENSHOT_VIEWS)}, got {app!r}", where=where
        )
    if not options.get("of", "").endswith((".py", ".ipynb")):
        raise LiveDocsError(
            "a screenshot block needs 'of: examples/NAME.py', the example whose state it shows",
            where=where,
        )
    if not options.get("alt"):
        raise LiveDocsError(
            "a screenshot block needs 'alt:', one sentence saying what the image shows",
            where=where,
        )
    if "view" in options and "url" in options:
        raise LiveDocsError("a screenshot block takes 'view:' or 'url:', not both", where=where)
    views = SCREENSHOT_VIEWS[app]
    if options.get("view", views[0]) not in views:
        raise LiveDocsError(
            f"view of {app} must be one of {', '.join(views)}, got {options['view']!r}",
            where=where,
        )
    if "url" in options and (app == "model-card" or not options["url"].startswith("/")):
        raise LiveDocsError(
            "url: is a path on the app (mlflow-ui, model-server, team-server), starting with '/' "
            "(e.g. '/#/models')",
            where=where,
        )
    height = options.get("height", "720")
    if not height.isdigit() or not 300 <= int(height) <= 2000:
        raise LiveDocsError(
            f"height must be pixels between 300 and 2000, got {height!r}", where=where
        )
    return options


def _check(where: str, options: dict[str, str]) -> dict[str, str]:
    if "screenshot" in options:
        return _check_screenshot(where, options)
    stray = sorted(set(options) & (_SCREENSHOT_KEYS - _KEYS))
    if stray:
        raise LiveDocsError(
            f"{stray[0]!r} belongs to a screenshot block; start it with 'screenshot: mlflow-ui'",
            where=where,
        )
    if ("file" in options) == ("cli" in options):
        raise LiveDocsError("a livedocs block needs exactly one of 'file:' or 'cli:'", where=where)
    if options.get("show", "both") not in _SHOW:
        raise LiveDocsError(
            f"show must be code, output, both or markdown, got {options['show']!r}", where=where
        )
    for key in ("lines", "hl_lines"):
        if key in options:
            try:
                parse_line_spec(options[key])
            except ValueError:
                raise LiveDocsError(
                    f"{key} must be numbers or ranges like '5-30', got {options[key]!r}",
                    where=where,
                ) from None
    return options


def _parse_body(page: str, line: int, body: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for offset, raw in enumerate(body, start=1):
        text = raw.strip()
        if not text or text.startswith("#"):
            continue
        key, value = _parse_pair(f"{page}:{line + offset}", text)
        options[key] = value
    return _check(f"{page}:{line}", options)


def _width(raw: str) -> int:
    return len(raw) - len(raw.lstrip())


def _parse_tabs(
    page: str, line: int, end_line: int, indent: str, body: list[str]
) -> list[Directive]:
    """The directives of a ``tabs:`` block, one per tab, whose line spans tile the block.

    ``line``/``end_line`` are the block's fences (1-based); ``body`` the lines between.
    """
    defaults: dict[str, str] = {}
    tabs: list[tuple[int, str, dict[str, str]]] = []  # (page line, label, options)
    tab_indent: int | None = None
    in_tabs = False
    for offset, raw in enumerate(body, start=1):
        text = raw.strip()
        where = f"{page}:{line + offset}"
        if not text or text.startswith("#"):
            continue
        width = _width(raw)
        if width == 0:
            in_tabs = False
            head, _, rest = text.partition(":")
            if head.strip() == "tabs":
                if rest.strip():
                    raise LiveDocsError(
                        "'tabs:' takes one indented 'Label: file or command' line "
                        "per tab below it, not a value on its own line",
                        where=where,
                    )
                in_tabs = True
                continue
            key, value = _parse_pair(where, text)
            if key not in _TAB_DEFAULTS:
                raise LiveDocsError(
                    f"{key!r} cannot apply to every tab; put it under the tab it "
                    "belongs to (long form: 'Label:' then indented 'key: value' lines)",
                    where=where,
                )
            defaults[key] = value
            continue
        if not in_tabs:
            raise LiveDocsError(
                f"unexpected indented line {text!r} in a livedocs block", where=where
            )
        if tab_indent is None or width <= tab_indent:
            if tab_indent is not None and width < tab_indent:
                raise LiveDocsError("tab labels must line up under 'tabs:'", where=where)
            tab_indent = width
            label, colon, value = text.partition(":")
            label = label.strip().strip("\"'")
            if not label or '"' in label or not colon:
                raise LiveDocsError(
                    f"expected 'Label: examples/file.py' or 'Label: ml command' "
                    f"in tabs:, got {text!r}",
                    where=where,
                )
            value = value.strip()
            if value and not value.startswith("#"):
                value = re.sub(r"\s+#.*$", "", value)
                key = "file" if value.endswith((".py", ".ipynb")) else "cli"
                tabs.append((line + offset, label, {key: value}))
            else:
                tabs.append((line + offset, label, {}))
            continue
        if not tabs:
            raise LiveDocsError("indented line before the first tab label", where=where)
        key, value = _parse_pair(where, text)  # long form: the tab's own options
        tabs[-1][2][key] = value
    if not tabs:
        raise LiveDocsError(
            "'tabs:' lists no tab; add 'Label: file or command'", where=f"{page}:{line}"
        )
    labels = [label for _, label, _ in tabs]
    if len(set(labels)) != len(labels):
        raise LiveDocsError(f"tab labels must be unique, got {labels}", where=f"{page}:{line}")
    found = []
    for index, (tab_line, label, own) in enumerate(tabs):
        options = _check(f"{page}:{tab_line}", {**defaults, **own, "tab": label})
        first = line if index == 0 else tab_line
        last = end_line if index == len(tabs) - 1 else tabs[index + 1][0] - 1
        found.append(Directive(page, first, last, indent, options))
    return found


def find_directives(page: str, text: str) -> list[Directive]:
    """Return every top-level ``livedocs`` fenced block of a Markdown page.

    Args:
        page: the page's path, used in error messages.
        text: the Markdown source.

    Raises:
        LiveDocsError: a block has an unknown option, a bad value, or is not closed.
    """
    lines = text.split("\n")
    found: list[Directive] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match.group("fence")
        info = match.group("info").strip()
        closer = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        j = i + 1
        while j < len(lines) and not closer.match(lines[j]):
            j += 1
        words = info.replace("{", " ").replace("}", " ").replace(".", " ").split()
        is_directive = bool(words) and words[0] == "livedocs"
        if words[:1] == ["python"] and "livedocs" in words[1:]:
            # An executable snippet: the block's own code runs like an example.
            if j >= len(lines):
                raise LiveDocsError(
                    f"code block is not closed with {fence}", where=f"{page}:{i + 1}"
                )
            indent = match.group("indent")
            body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : j]]
            options = {"snippet": "\n".join(body) + "\n"}
            found.append(Directive(page, i + 1, j + 1, indent, options))
        elif is_directive:
            if j >= len(lines):
                raise LiveDocsError(
                    f"livedocs block is not closed with {fence}", where=f"{page}:{i + 1}"
                )
            indent = match.group("indent")
            body = [ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : j]]
            if any(re.match(r"^tabs[ \t]*:", ln) for ln in body):
                found += _parse_tabs(page, i + 1, j + 1, indent, body)
            else:
                options = _parse_body(page, i + 1, body)
                found.append(Directive(page, i + 1, j + 1, indent, options))
        i = j + 1
    return found
