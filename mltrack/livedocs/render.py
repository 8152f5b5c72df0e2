"""Render directives as Markdown (pymdownx content tabs) plus HTML fragments.

Output HTML is not passed through Markdown (it would mangle captured text); the
Markdown gets a placeholder paragraph per fragment, and the site generator swaps the
placeholder for the fragment once the page is HTML (see :func:`fill_fragments`).
The exception is ``show: markdown``: there the captured output *is* Markdown and goes
into the page as such.

Everything a directive renders sits in ``<div class="livedocs" data-livedocs-item="ID">``,
so a built page tells which code samples the engine produced (the site tests check that
every one was).
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from mltrack.errors import LiveDocsError
from mltrack.livedocs.ansi import ansi_to_html, strip_ansi
from mltrack.livedocs.directives import Directive, parse_line_spec
from mltrack.livedocs.model import Item, ItemResult, RunSummary
from mltrack.livedocs.runner import format_failure

__all__ = [
    "CHECKS_MARKER",
    "Rendered",
    "checks_start",
    "error_html",
    "fill_fragments",
    "markdown_output",
    "render_directive",
]

_HEADER_LINE = re.compile(r"^#\s*livedocs:")
#: ``# --- checks ---`` opens the trailing section of asserts that prove what the example
#: shows: executed like the rest of the file, never shown on the page.
CHECKS_MARKER = re.compile(r"^#\s*-{3,}\s*checks\s*-{3,}\s*$")
#: Code annotations, written like footnotes in the example: a ``# (1)!`` marker ends a
#: code line, and ``# (1)! What that line does.`` lines close the file.
_MARKER = re.compile(r"#\s*\((?P<number>\d+)\)!\s*$")
_NOTE = re.compile(r"^#\s*\((?P<number>\d+)\)!\s+(?P<text>\S.*)$")
_PLACEHOLDER = re.compile(
    r"<p>\s*(LIVEDOCSFRAGMENT[0-9a-f]{16})\s*</p>|(LIVEDOCSFRAGMENT[0-9a-f]{16})"
)


@dataclass
class Rendered:
    """Markdown replacing a directive, and the HTML its placeholders stand for."""

    markdown: str
    fragments: dict[str, str] = field(default_factory=dict)

    def placeholder(self, fragment: str) -> str:
        token = f"LIVEDOCSFRAGMENT{uuid.uuid4().hex[:16]}"
        self.fragments[token] = fragment
        return token


def fill_fragments(page_html: str, fragments: dict[str, str]) -> str:
    """Replace placeholder paragraphs in rendered HTML by their fragments."""

    def swap(match: re.Match[str]) -> str:
        token = match.group(1) or match.group(2)
        return fragments.get(token, match.group(0))

    return _PLACEHOLDER.sub(swap, page_html)


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line if line.strip() else "" for line in text.split("\n"))


def checks_start(lines: list[str]) -> int | None:
    """0-based index of the ``# --- checks ---`` line of a file's lines, or ``None``."""
    return next((i for i, line in enumerate(lines) if CHECKS_MARKER.match(line.strip())), None)


def _without_checks(lines: list[str]) -> list[str]:
    """The lines a reader sees: everything before the checks section, trailing blanks cut."""
    start = checks_start(lines)
    if start is None:
        return lines
    shown = lines[:start]
    while shown and not shown[-1].strip():
        shown.pop()
    return shown


def _code_block(root: Path, item: Item, directive: Directive) -> str:
    if directive.snippet is not None:
        snippet = "\n".join(_without_checks(directive.snippet.split("\n")))
        longest = max((len(m) for m in re.findall(r"`+", snippet)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"{fence}python\n{snippet.rstrip()}\n{fence}"
    assert item.path is not None
    lines = (root / item.path).read_text(errors="replace").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # The notes may close the file or sit right before the checks section.
    lines, notes = _footnotes(lines)
    lines, more = _footnotes(_without_checks(lines))
    notes = {**notes, **more}
    if "lines" in directive.options:
        wanted = parse_line_spec(directive.options["lines"])
        first, last = wanted[0], min(wanted[-1], len(lines))
    else:
        first, last = 1, len(lines)
        while first <= last and _HEADER_LINE.match(lines[first - 1].strip()):
            first += 1  # the `# livedocs:` header is for the engine, not the reader
    shown, annotations = _annotate(item.path, lines[first - 1 : last], first, notes)
    longest = max((len(m) for m in re.findall(r"`+", "\n".join(shown))), default=0)
    fence = "`" * max(3, longest + 1)
    attrs = [f'title="{directive.options.get("title") or item.path}"', f'linenums="{first}"']
    if "hl_lines" in directive.options:
        relative = [n - first + 1 for n in parse_line_spec(directive.options["hl_lines"])]
        attrs.append(f'hl_lines="{" ".join(str(n) for n in relative if n >= 1)}"')
    block = f"{fence}python {' '.join(attrs)}\n" + "\n".join(shown) + f"\n{fence}"
    if annotations:  # Material pairs the `# (N)!` markers with the list right after the block
        block += "\n\n" + "\n".join(f"{n}. {text}" for n, text in enumerate(annotations, 1))
    return block


def _footnotes(lines: list[str]) -> tuple[list[str], dict[int, str]]:
    """The file without its closing ``# (N)! note`` lines, and those notes by number."""
    notes: dict[int, str] = {}
    end = len(lines)
    while end > 0:
        text = lines[end - 1].strip()
        match = _NOTE.match(text)
        if match:
            notes[int(match["number"])] = match["text"].strip()
        elif text:
            break
        end -= 1
    return (lines[:end], notes) if notes else (lines, {})


def _annotate(
    path: str, shown: list[str], first: int, notes: dict[int, str]
) -> tuple[list[str], list[str]]:
    """Material markers for the shown lines, renumbered 1, 2... in order, and their notes.

    Raises:
        LiveDocsError: a marker has no note at the end of the file.
    """
    code: list[str] = []
    texts: list[str] = []
    for offset, line in enumerate(shown):
        match = _MARKER.search(line)
        if match is None:
            code.append(line)
            continue
        number = int(match["number"])
        if number not in notes:
            raise LiveDocsError(
                f"{path}:{first + offset}: annotation ({number}) has no note; end the file "
                f"with a line '# ({number})! what this line does'"
            )
        texts.append(notes[number])
        code.append(f"{line[: match.start()]}# ({len(texts)})!")
    return code, texts


def _format_metric(value: float) -> str:
    return f"{value:.4g}"


#: When the example names none of a run's keys, this many are shown before "more".
_MAX_VALUES = 8


def _source_text(root: Path | None, item: Item) -> str:
    """The item's source (its file, or its command line), to find the keys it names."""
    if item.kind == "cli" or root is None or item.path is None:
        return item.command or ""
    try:
        return (root / item.path).read_text(errors="replace")
    except OSError:
        return ""


def _pairs_cell(values: dict[str, str], source: str) -> str:
    """A params or metrics cell: the keys the example names, the rest behind "more".

    Autologging adds dozens of keys (every estimator argument, ``training_*`` metrics)
    next to the two the example set; the ones its source names (``C``, ``max_iter``,
    ``accuracy``) are what the page is about.
    """
    items = sorted(values.items())
    named = [(k, v) for k, v in items if re.search(rf"(?<![\w.]){re.escape(k)}(?!\w)", source)]
    shown = named or items[:_MAX_VALUES]
    rest = [pair for pair in items if pair not in shown]
    cell = html.escape(", ".join(f"{k}={v}" for k, v in shown))
    cell = f"<code>{cell}</code>" if cell else "&mdash;"
    if rest:
        hidden = html.escape(", ".join(f"{k}={v}" for k, v in rest))
        cell += (
            f'<details class="livedocs-more"><summary>{len(rest)} more</summary>'
            f"<code>{hidden}</code></details>"
        )
    return cell


def _runs_html(runs: list[RunSummary], source: str = "") -> str:
    rows = []
    for run in runs:
        metrics = {k: _format_metric(v) for k, v in run.metrics.items()}
        rows.append(
            "<tr>"
            f"<td>{html.escape(run.name)}</td>"
            f'<td><span class="livedocs-status livedocs-status-{run.status.lower()}">'
            f"{html.escape(run.status)}</span></td>"
            f"<td>{_pairs_cell(run.params, source)}</td>"
            f"<td>{_pairs_cell(metrics, source)}</td>"
            "</tr>"
        )
    return (
        '<div class="livedocs-runs"><p class="livedocs-caption">MLflow runs created</p>'
        "<table><thead><tr><th>Run</th><th>Status</th><th>Params</th><th>Metrics</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _console_html(text: str, prompt: str | None = None) -> str:
    body = ansi_to_html(text.rstrip("\n"))
    copy = ""
    if prompt is not None:
        body = f'<span class="livedocs-prompt">$ </span>{html.escape(prompt)}\n' + body
        # Material copies `data-copy` when present: the command, not the captured output.
        copy = f' data-copy="{html.escape(prompt)}"'
    return f'<div class="highlight livedocs-console"{copy}><pre><code>{body}</code></pre></div>'


def error_html(message: str, title: str) -> str:
    """A Material "failure" admonition showing ``message`` verbatim."""
    return (
        '<div class="admonition failure livedocs-error">'
        f'<p class="admonition-title">{html.escape(title)}</p>'
        f"<pre><code>{html.escape(message)}</code></pre></div>"
    )


def _media_html(result: ItemResult, source: str = "") -> list[str]:
    parts = []
    for figure in result.figures:
        parts.append(
            '<figure class="livedocs-figure">'
            f'<img src="data:{figure.mime};base64,{figure.data}" alt="{html.escape(figure.name)}">'
            f"<figcaption>{html.escape(figure.name)}</figcaption></figure>"
        )
    if result.runs:
        parts.append(_runs_html(result.runs, source))
    return parts


def _output_html(
    item: Item, result: ItemResult, caption: bool = False, root: Path | None = None
) -> str:
    parts = ['<p class="livedocs-caption">Output</p>'] if caption else []
    if not result.ok:
        parts.append(error_html(format_failure(item, result), f"{item.id} failed"))
    if result.output.strip():
        parts.append(_console_html(result.output, item.command if item.kind == "cli" else None))
    elif item.kind == "cli":
        parts.append(_console_html("", item.command))
    parts += _media_html(result, _source_text(root, item))
    if len(parts) == int(caption):
        parts.append('<p class="livedocs-empty"><em>No output.</em></p>')
    return '<div class="livedocs-output">' + "".join(parts) + "</div>"


_ATX = re.compile(r"^#{1,6}[ \t]+(?P<text>.+?)[ \t#]*$", re.M)
_FENCED = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.M | re.S)
# Log records (MLflow's and Python logging's default formats) are not part of a printed
# report: "2026/11/25 10:43:47 INFO mlflow...: ..." or "WARNING:mlflow...: ...".
_LOG_LINE = re.compile(
    r"^(\d{4}[/-]\d{2}[/-]\d{2} \d{2}:\d{2}:\d{2}\S* (DEBUG|INFO|WARNING) |"
    r"(DEBUG|INFO|WARNING):[\w.]+:).*\n?",
    re.M,
)


def markdown_output(text: str) -> str:
    """Captured output prepared for the page's Markdown: colours removed, headings bold.

    A printed ``# Report`` must not become a second page title or an entry in the page's
    table of contents, so headings become bold lines; fenced code is left alone. Log
    lines (info and warnings of MLflow or Python logging) are left out: they would read
    as stray paragraphs of the report; errors stay.
    """
    text = _LOG_LINE.sub("", strip_ansi(text)).rstrip()
    fenced = [m.span() for m in _FENCED.finditer(text)]
    heads = [m for m in _ATX.finditer(text) if not any(a <= m.start() < b for a, b in fenced)]
    for match in reversed(heads):
        # Blank lines around it: a heading ends a paragraph by itself, a bold line does not.
        bold = f"\n**{match.group('text')}**\n"
        text = text[: match.start()] + bold + text[match.end() :]
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _markdown_body(out: Rendered, item: Item, result: ItemResult, root: Path | None = None) -> str:
    parts = []
    if not result.ok:
        parts.append(out.placeholder(error_html(format_failure(item, result), f"{item.id} failed")))
    if result.output.strip():
        parts.append(markdown_output(result.output))
    media = _media_html(result, _source_text(root, item))
    if media:
        parts.append(out.placeholder('<div class="livedocs-output">' + "".join(media) + "</div>"))
    if not parts:
        parts.append(out.placeholder('<p class="livedocs-empty"><em>No output.</em></p>'))
    return "\n\n".join(parts)


def _wrap(out: Rendered, item_id: str, markdown: str) -> str:
    """Mark the engine's rendering: ``<div class="livedocs" data-livedocs-item=...>``."""
    opening = out.placeholder(
        f'<div class="livedocs" data-livedocs-item="{html.escape(item_id, quote=True)}">'
    )
    return f"{opening}\n\n{markdown}\n\n{out.placeholder('</div>')}"


def _item_id(directive: Directive, item: Item | None) -> str:
    if item is not None:
        return item.id
    if directive.cli:
        return f"cli:{directive.cli}"
    return directive.file or directive.where


def render_directive(
    root: Path,
    directive: Directive,
    item: Item | None,
    result: ItemResult | None,
    problem: str | None = None,
) -> Rendered:
    """Markdown for one directive: ``Code | Output`` tabs, or one of them.

    A directive from a ``tabs:`` block becomes one language tab (``=== "Python"``)
    holding its code with the output below it; consecutive tabs form one tab set.

    Args:
        root: project root (to read the source for the Code tab).
        directive: the block being replaced.
        item: the planned item (``None`` if planning failed).
        result: its result (``None`` if it was not executed).
        problem: why the item could not be planned, shown instead of the output.
    """
    out = Rendered(markdown="")
    body = _body(out, root, directive, item, result, problem)
    out.markdown = _wrap(out, _item_id(directive, item), body)
    if directive.tab is not None:
        out.markdown = f'=== "{directive.tab}"\n\n' + _indent(out.markdown, "    ")
    return _finish(out, directive)


def _body(
    out: Rendered,
    root: Path,
    directive: Directive,
    item: Item | None,
    result: ItemResult | None,
    problem: str | None,
) -> str:
    if directive.screenshot is not None:
        if problem is not None or item is None:  # e.g. no Chromium: the alt text and the fix
            reason = problem or "this item was not planned (see the build log)"
            return out.placeholder(_screenshot_placeholder(directive, reason))
        return out.placeholder(_screenshot_html(directive, item, result))
    if item is None or result is None:
        text = problem or "this item was not executed (see the build log)"
        return out.placeholder(error_html(text, f"{directive.where}: livedocs"))
    show = directive.show
    if show == "markdown":
        return _markdown_body(out, item, result, root)
    if item.kind == "cli" or show == "output":
        return out.placeholder(_output_html(item, result, root=root))
    code = _code_block(root, item, directive)
    if show == "code":
        return code
    if directive.tab is not None:  # a language tab: no second row of tabs inside it
        return code + "\n\n" + out.placeholder(_output_html(item, result, caption=True, root=root))
    output = out.placeholder(_output_html(item, result, root=root))
    return (
        '=== "Code"\n\n' + _indent(code, "    ") + '\n\n=== "Output"\n\n' + _indent(output, "    ")
    )


def _screenshot_placeholder(directive: Directive, reason: str) -> str:
    """What a reader sees where a screenshot could not be taken: its alt text and why."""
    return (
        '<figure class="livedocs-screenshot livedocs-screenshot-missing">'
        f'<div class="admonition warning"><p class="admonition-title">'
        f"{html.escape(directive.options.get('alt', 'Screenshot'))}</p>"
        f"<p>{html.escape(reason)}</p></div></figure>"
    )


def _screenshot_html(directive: Directive, item: Item, result: ItemResult | None) -> str:
    """Both images of a ``screenshot:`` block; Material shows the one of the reader's scheme."""
    from mltrack.livedocs.screenshots import spec_id

    spec = spec_id(directive)
    shot = next((s for s in (result.screenshots if result else []) if s.spec == spec), None)
    if result is None or shot is None:
        reason = "screenshot not taken: its example did not run in this build"
        if result is not None and result.ok:
            reason = (
                f"screenshot missing from the cached result of {item.id}; rebuild with --no-cache"
            )
        return error_html(reason, f"{directive.where}: livedocs screenshot")
    if not shot.ok:
        return error_html(f"{shot.where}: {shot.error}", f"{directive.where}: screenshot failed")
    alt = html.escape(directive.options["alt"], quote=True)
    size = f'width="{shot.width}" height="{shot.height}"'
    images = "".join(
        f'<img class="livedocs-screenshot-{scheme}" src="data:image/png;base64,{data}#only-{scheme}"'
        f' alt="{alt}" {size}>'
        for scheme, data in (("light", shot.light), ("dark", shot.dark))
    )
    return (
        f'<figure class="livedocs-screenshot" data-livedocs-view="{html.escape(shot.target)}">'
        f"{images}<figcaption>{html.escape(directive.options['alt'])}</figcaption></figure>"
    )


def _finish(out: Rendered, directive: Directive) -> Rendered:
    out.markdown = _indent(out.markdown, directive.indent) + "\n"
    return out
