"""Convert text with ANSI escape sequences (colours, bold, ...) to HTML.

A deliberately small converter: SGR codes for the 16 standard colours, 256-colour and
true-colour foregrounds/backgrounds, bold, dim, italic and underline become ``<span>``
elements; every other escape sequence (cursor movement, OSC hyperlinks, ...) is dropped.
Carriage-return progress bars keep only their final state.
"""

from __future__ import annotations

import html
import re

__all__ = ["ansi_to_html", "strip_ansi"]

# CSI sequences (ESC [ ... final byte) and OSC sequences (ESC ] ... BEL or ESC \).
_CSI = re.compile(r"\x1b\[([0-9;?]*)([@-~])")
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_OTHER_ESC = re.compile(r"\x1b[@-Z\\-_]")

_NAMES = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]


def strip_ansi(text: str) -> str:
    """Return ``text`` without any escape sequence."""
    return _OTHER_ESC.sub("", _CSI.sub("", _OSC.sub("", text)))


def _collapse_carriage_returns(text: str) -> str:
    """Keep what a terminal would show for lines rewritten with ``\\r``."""
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(line)
    return "\n".join(lines)


def _xterm256(n: int) -> str:
    if n < 16:
        base = [
            (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
            (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
            (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
            (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
        ]  # fmt: skip
        r, g, b = base[n]
    elif n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        r, g, b = steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    else:
        r = g = b = 8 + (n - 232) * 10
    return f"#{r:02x}{g:02x}{b:02x}"


class _State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.bold = self.dim = self.italic = self.underline = False
        self.fg: str | None = None  # css class suffix or '#rrggbb'
        self.bg: str | None = None

    def apply(self, params: list[int]) -> None:
        i = 0
        while i < len(params):
            code = params[i]
            if code == 0:
                self.reset()
            elif code == 1:
                self.bold = True
            elif code == 2:
                self.dim = True
            elif code == 3:
                self.italic = True
            elif code == 4:
                self.underline = True
            elif code == 22:
                self.bold = self.dim = False
            elif code == 23:
                self.italic = False
            elif code == 24:
                self.underline = False
            elif 30 <= code <= 37:
                self.fg = _NAMES[code - 30]
            elif 90 <= code <= 97:
                self.fg = "bright-" + _NAMES[code - 90]
            elif code == 39:
                self.fg = None
            elif 40 <= code <= 47:
                self.bg = _NAMES[code - 40]
            elif 100 <= code <= 107:
                self.bg = "bright-" + _NAMES[code - 100]
            elif code == 49:
                self.bg = None
            elif code in (38, 48) and i + 1 < len(params):
                colour, used = self._extended(params[i + 1 :])
                if code == 38:
                    self.fg = colour
                else:
                    self.bg = colour
                i += used
            i += 1

    @staticmethod
    def _extended(rest: list[int]) -> tuple[str | None, int]:
        if rest[0] == 5 and len(rest) >= 2:
            return _xterm256(rest[1] % 256), 2
        if rest[0] == 2 and len(rest) >= 4:
            r, g, b = (max(0, min(255, v)) for v in rest[1:4])
            return f"#{r:02x}{g:02x}{b:02x}", 4
        return None, len(rest)

    def open_tag(self) -> str:
        classes: list[str] = []
        styles: list[str] = []
        for flag, name in (
            (self.bold, "bold"),
            (self.dim, "dim"),
            (self.italic, "italic"),
            (self.underline, "underline"),
        ):
            if flag:
                classes.append(f"ansi-{name}")
        for value, kind in ((self.fg, "fg"), (self.bg, "bg")):
            if value is None:
                continue
            if value.startswith("#"):
                styles.append(("color:" if kind == "fg" else "background-color:") + value)
            else:
                classes.append(f"ansi-{kind}-{value}")
        if not classes and not styles:
            return ""
        attrs = f' class="{" ".join(classes)}"' if classes else ""
        if styles:
            attrs += f' style="{";".join(styles)}"'
        return f"<span{attrs}>"


def ansi_to_html(text: str) -> str:
    """Convert ANSI-coloured ``text`` to escaped HTML with ``<span>`` styling.

    Args:
        text: terminal output, possibly with escape sequences.

    Returns:
        HTML safe to place inside ``<pre><code>``; colours use ``ansi-*`` CSS classes
        (16 colours) or inline styles (256 and true colour).
    """
    text = _collapse_carriage_returns(_OTHER_ESC.sub("", _OSC.sub("", text)))
    state = _State()
    out: list[str] = []
    open_span = False
    pos = 0
    for match in _CSI.finditer(text):
        out.append(html.escape(text[pos : match.start()], quote=False))
        pos = match.end()
        if match.group(2) != "m":
            continue  # cursor movement etc.: drop
        raw = match.group(1).replace("?", "")
        params = [int(p) if p else 0 for p in raw.split(";")] if raw else [0]
        state.apply(params)
        if open_span:
            out.append("</span>")
            open_span = False
        tag = state.open_tag()
        if tag:
            out.append(tag)
            open_span = True
    out.append(html.escape(text[pos:], quote=False))
    if open_span:
        out.append("</span>")
    return "".join(out)
