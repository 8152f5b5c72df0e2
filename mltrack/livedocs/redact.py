"""Redaction of secrets and normalisation of build-specific strings in captured output.

Redaction works on what a reader sees, not on the raw bytes: escape sequences (colours)
are set aside, secrets are found in the visible text, also where a terminal wrapped them
(a line break, plus the indentation a wrap may add, between any two characters), and
only the visible characters are replaced in the coloured text, so the colours of the
text around a secret survive. Three things are secret:

* the value of every environment variable whose name contains one of the name
  fragments (``docs.redact_env_patterns``: ``TOKEN``, ``KEY``, ``SECRET``, ``PASSWORD``)
  or matches one of ``docs.redact_env`` (exact names or ``*`` globs), the value
  JSON-, repr-, HTML- and URL-escaped too, and every fragment of it (split on
  whitespace and ``.:/=``) of :data:`MIN_FRAGMENT` characters or more;
* well-known token shapes whatever holds them (:data:`TOKEN_SHAPES`);
* matches of ``docs.redact_patterns`` (a group named ``secret``, when the pattern has
  one, limits the redaction to that group).

One :class:`Redactor` is compiled per build; it is linear in the text it scans.
"""

from __future__ import annotations

import fnmatch
import html
import json
import os
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mltrack.config import regex_problem
from mltrack.errors import ConfigError

__all__ = [
    "MIN_FRAGMENT",
    "REDACTED",
    "TOKEN_SHAPES",
    "Redactor",
    "Scrubber",
    "redactor_for",
]

REDACTED = "[redacted]"
#: Fragments of a secret at least this long are redacted on their own.
MIN_FRAGMENT = 8
#: A whole value shorter than this is not redacted (``"1"``, ``"on"`` would mangle output).
MIN_VALUE = 4

#: Token formats redacted wherever they appear. A group named ``secret`` limits the
#: redaction to it (``Bearer`` stays readable).
TOKEN_SHAPES: dict[str, str] = {
    # Header values: at least 8 token characters ending with a letter or digit (not the
    # full stop of a sentence); one that is only letters is prose ("Bearer authentication")
    # and is left alone (see Redactor.spans).
    "bearer": r"(?i:\bbearer)[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{7,}[A-Za-z0-9]=*)",
    "openai/anthropic": r"\bsk-(?=[A-Za-z0-9_-]*[0-9])[A-Za-z0-9_-]{16,}",
    "github": r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
    "aws": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "huggingface": r"\bhf_[A-Za-z0-9]{20,}",
    "slack": r"\bxox[abposr]-[A-Za-z0-9-]{10,}",
    "jwt": r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}",
    # The password of a URL (a database or tracking URI printed whole); a placeholder
    # (PASSWORD, password: letters only) or a redacted one (***) stays.
    "url password": r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]*:(?P<secret>(?!\*+@)[^\s/@]+)@",
}
#: Characters a token shape may continue with on the next line after a terminal wrap.
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9._~+/=_-]+")
#: A wrapped token continues only from a line at least this long: text is wrapped at a
#: terminal's width (the engine's ``COLUMNS`` is 100, ``textwrap``'s default 70); a
#: shorter line ending with a token is the token's end, and the next line's first word
#: is not part of it.
_MIN_WRAPPED_LINE = 70

# Escape sequences, as in mltrack.livedocs.ansi: OSC, CSI, then two-byte escapes.
_ESCAPE = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-9;?]*[@-~]|\x1b[@-Z\\-_]")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
#: What a terminal wrap may insert between two characters of a secret: padding, the
#: line break, the indentation of the next line.
_GAP = r"(?:[ \t]*\r?\n[ \t]*)?"
_SPLIT = re.compile(r"[\s.:/=]+")
#: Notebook output MIME types holding base64 data: never text to redact.
_BINARY_MIME = re.compile(r"^(image/(png|jpeg|gif|webp|bmp)|application/pdf)$")


def _name_matches(name: str, fragments: list[str], names: list[str]) -> bool:
    upper = name.upper()
    if any(fragment in upper for fragment in fragments):
        return True
    return any(fnmatch.fnmatchcase(upper, pattern) for pattern in names)


def secret_values(
    patterns: Iterable[str],
    environ: Mapping[str, str] | None = None,
    min_length: int = MIN_VALUE,
    names: Iterable[str] = (),
) -> list[str]:
    """Values of environment variables that hold secrets.

    Args:
        patterns: name fragments (``KEY`` matches ``ANTHROPIC_API_KEY``).
        environ: the environment (default: ``os.environ``).
        min_length: shorter values are skipped: redacting ``"1"`` would mangle output.
        names: more variable names, exact or ``*`` globs (case-insensitive).

    Returns:
        The values, longest first, so that a secret containing another is replaced whole.
    """
    env = os.environ if environ is None else environ
    fragments = [p.upper() for p in patterns if p]
    globs = [n.upper() for n in names if n]
    values = {
        value
        for name, value in env.items()
        if len(value) >= min_length and _name_matches(name, fragments, globs)
    }
    return sorted(values, key=len, reverse=True)


def compile_patterns(
    patterns: Iterable[str], setting: str = "docs.redact_patterns"
) -> list[re.Pattern[str]]:
    """Compile user patterns; an invalid one is a one-line :class:`ConfigError`."""
    compiled = []
    for index, pattern in enumerate(patterns):
        problem = regex_problem(pattern)
        if problem is not None:
            raise ConfigError(f"{setting}[{index}]: {pattern!r} {problem}")
        compiled.append(re.compile(pattern))
    return compiled


def _variants(value: str) -> set[str]:
    """How a value may be printed: as is, escaped in JSON/repr/HTML, URL-quoted."""
    found = {
        value,
        json.dumps(value)[1:-1],
        repr(value)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value, safe=""),
    }
    return {v for v in found if v}


def _expand(secrets: Iterable[str], min_fragment: int) -> list[str]:
    """Each secret, its fragments of ``min_fragment`` characters or more, and their
    escaped forms; longest first."""
    out: set[str] = set()
    for secret in secrets:
        secret = secret.strip()  # a token read from a file often ends with a newline
        if not secret:
            continue
        parts = [secret] + [p for p in _SPLIT.split(secret) if len(p) >= min_fragment]
        for part in parts:
            out |= _variants(part)
    return sorted(out, key=lambda s: (-len(s), s))


def _wrappable(secret: str) -> str:
    """A pattern for ``secret`` that also matches it broken across terminal lines."""
    pieces = []
    for char in secret:
        pieces.append(r"\s+" if char.isspace() else re.escape(char))
    return _GAP.join(pieces)


def _visible(text: str) -> tuple[str, list[int] | None]:
    """``text`` without escape sequences, and each visible character's raw index."""
    if "\x1b" not in text:
        return text, None
    chars: list[str] = []
    index: list[int] = []
    pos = 0
    for match in _ESCAPE.finditer(text):
        chars.append(text[pos : match.start()])
        index.extend(range(pos, match.start()))
        pos = match.end()
    chars.append(text[pos:])
    index.extend(range(pos, len(text)))
    return "".join(chars), index


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Redactor:
    """Find and replace secrets in text as a reader sees it.

    Args:
        secrets: secret values (environment values, see :func:`secret_values`).
        patterns: extra regular expressions (compiled or not).
        shapes: also redact :data:`TOKEN_SHAPES`.
        min_fragment: fragments of a secret this long are redacted on their own.
    """

    def __init__(
        self,
        secrets: Iterable[str] = (),
        patterns: Iterable[str | re.Pattern[str]] = (),
        shapes: bool = True,
        min_fragment: int = MIN_FRAGMENT,
    ):
        self.secrets = _expand(secrets, min_fragment)
        alternatives = "|".join(_wrappable(s) for s in self.secrets)
        self._secrets = re.compile(alternatives) if alternatives else None
        self._shapes = [re.compile(p) for p in TOKEN_SHAPES.values()] if shapes else []
        self._patterns = [p if isinstance(p, re.Pattern) else re.compile(p) for p in patterns]

    def spans(self, visible: str) -> list[tuple[int, int]]:
        """Merged ``(start, end)`` spans of ``visible`` to redact."""
        spans: list[tuple[int, int]] = []
        if self._secrets is not None:
            spans += [m.span() for m in self._secrets.finditer(visible)]
        for regex in self._shapes:
            for match in regex.finditer(visible):
                start, end = _secret_span(match)
                if start != match.start() and visible[start:end].isalpha():
                    continue  # "Bearer authentication": a word, not a token
                spans.append(_wrapped(visible, (start, end)))
        for regex in self._patterns:
            spans += [_secret_span(m) for m in regex.finditer(visible) if m.end() > m.start()]
        return _merge(spans)

    def __call__(self, text: str) -> str:
        """``text`` with every secret replaced by ``[redacted]``, colours kept."""
        if not text:
            return text
        visible, index = _visible(text)
        spans = self.spans(visible)
        if index is None:
            return _replace(text, spans)
        if spans:
            # Coloured text: drop the visible characters of each span, keep the escape
            # sequences between them so that what follows keeps its colours.
            out, pos = [], 0
            for start, end in spans:
                raw_start, raw_end = index[start], index[end - 1] + 1
                out += [text[pos:raw_start], REDACTED]
                covered = set(index[start:end])
                out += [text[i] for i in range(raw_start, raw_end) if i not in covered]
                pos = raw_end
            out.append(text[pos:])
            text = "".join(out)
        if "\x1b]" in text:
            # A hyperlink's target (OSC 8) is invisible but stored in the cache.
            text = _OSC.sub(lambda m: _replace(m.group(0), self.spans(m.group(0))), text)
        return text

    def data(self, value: Any) -> Any:
        """``value`` with every string in it redacted (JSON-like data, keys too)."""
        return redact_data(value, self)


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    out, pos = [], 0
    for start, end in spans:
        out += [text[pos:start], REDACTED]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _secret_span(match: re.Match[str]) -> tuple[int, int]:
    if "secret" in match.re.groupindex and match.group("secret") is not None:
        return match.span("secret")
    return match.span()


def _wrapped(visible: str, span: tuple[int, int]) -> tuple[int, int]:
    """Extend a token that reaches the end of a long line over the wrap after it.

    A wrapped line is as long as the terminal is wide: the token goes on over the next
    line while the line it ends is at least as long as the first one.
    """
    start, end = span
    line_start = visible.rfind("\n", 0, start) + 1
    width = max(_MIN_WRAPPED_LINE, end - line_start)
    while end < len(visible) and visible[end] == "\n" and end - line_start >= width:
        line_start = nxt = end + 1
        while nxt < len(visible) and visible[nxt] in " \t":
            nxt += 1
        more = _TOKEN_CHARS.match(visible, nxt)
        if more is None:
            break
        end = more.end()
    return start, end


class Scrubber:
    """Replace secrets with ``[redacted]`` and build-specific strings with stable ones.

    Args:
        secrets: a :class:`Redactor`, or secret values to build one from.
        replacements: literal substitutions applied after redaction (temp paths, the
            throwaway server's URL), longest first.
    """

    def __init__(
        self,
        secrets: Redactor | Iterable[str],
        replacements: Mapping[str, str] | None = None,
    ):
        self.redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
        self.replacements = sorted(
            ((old, new) for old, new in (replacements or {}).items() if old),
            key=lambda kv: -len(kv[0]),
        )
        # A long temp path wraps in a terminal like a secret does: match it across wraps.
        alternatives = "|".join(
            f"(?P<r{index}>{_wrappable(old)})" for index, (old, _) in enumerate(self.replacements)
        )
        self._replace = re.compile(alternatives) if alternatives else None

    def __call__(self, text: str) -> str:
        text = self.redactor(text)
        if self._replace is None:
            return text
        if not _BORDERS.search(text):
            return self._replace.sub(self._substitute, text)
        # A table's row (rich draws ``│``) keeps its right border where it was drawn: a
        # replacement shorter or longer than what it replaces is evened out in the spaces
        # before the next border. Lines without a border are replaced together, so a path
        # a terminal wrapped over two of them is still found.
        out: list[str] = []
        plain: list[str] = []
        for line in text.splitlines(keepends=True):
            if _BORDERS.search(line):
                out.append(self._replace.sub(self._substitute, "".join(plain)))
                plain = []
                out.append(self._table_line(line))
            else:
                plain.append(line)
        out.append(self._replace.sub(self._substitute, "".join(plain)))
        return "".join(out)

    def _table_line(self, line: str) -> str:
        assert self._replace is not None
        out: list[str] = []
        pos = 0
        debt = 0  # columns to give back (> 0) or take (< 0) before the next border
        for match in self._replace.finditer(line):
            segment, debt = _settle(line[pos : match.start()], debt)
            new = self._substitute(match)
            out += [segment, new]
            debt += len(match.group(0)) - len(new)
            pos = match.end()
        out.append(_settle(line[pos:], debt)[0])
        return "".join(out)

    def _substitute(self, match: re.Match[str]) -> str:
        index = int((match.lastgroup or "r0")[1:])
        return self.replacements[index][1]

    def data(self, value: Any) -> Any:
        """Every string in JSON-like ``value`` scrubbed (keys too)."""
        return redact_data(value, self)


#: Vertical borders of the tables rich draws (its boxes and heavy header boxes).
_BORDERS = re.compile("[│┃]")


def _settle(segment: str, debt: int) -> tuple[str, int]:
    """``segment`` with ``debt`` columns evened out in the spaces before its first border;
    the debt left (all of it when the segment has no border)."""
    border = _BORDERS.search(segment)
    if border is None or debt == 0:
        return segment, debt
    at = border.start()
    if debt > 0:
        return segment[:at] + " " * debt + segment[at:], 0
    spaces = len(segment[:at]) - len(segment[:at].rstrip(" "))
    take = min(-debt, max(0, spaces - 1))  # keep one space before the border
    return segment[: at - take] + segment[at:], 0


def redact_data(value: Any, redact: Callable[[str], str]) -> Any:
    """``value`` with ``redact`` applied to every string in it (JSON-like data, keys too)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k, redact): redact_data(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_data(v, redact) for v in value)
    return value


def _mime(value: Any, redact: Callable[[str], str]) -> Any:
    # nbformat stores text as a list of lines: join them, a secret may span two.
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return redact("".join(value))
    return redact_data(value, redact)


def redact_notebook(nb: dict[str, Any], redact: Callable[[str], str]) -> dict[str, Any]:
    """Apply ``redact`` to every output of a notebook (each MIME type but base64 images,
    JSON recursively), its errors and its metadata, in place.

    Cell sources are the committed source, shown as written, like an example's code tab.
    """
    for cell in nb.get("cells", []):
        if "metadata" in cell:
            cell["metadata"] = redact_data(cell["metadata"], redact)
        for output in cell.get("outputs", []):
            for key, value in list(output.items()):
                if key == "data" and isinstance(value, dict):
                    output[key] = {
                        mime: v if _BINARY_MIME.match(mime) else _mime(v, redact)
                        for mime, v in value.items()
                    }
                elif key == "text":
                    output[key] = _mime(value, redact)
                elif key != "output_type":
                    output[key] = redact_data(value, redact)
    if "metadata" in nb:
        nb["metadata"] = redact_data(nb["metadata"], redact)
    return nb


def redactor_for(
    env_patterns: Iterable[str],
    env_names: Iterable[str] = (),
    patterns: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> Redactor:
    """The build's :class:`Redactor`: secret environment values, token shapes, patterns.

    Raises:
        ConfigError: a pattern is not a valid regular expression.
    """
    compiled = compile_patterns(patterns)
    return Redactor(secret_values(env_patterns, environ, names=env_names), compiled)
