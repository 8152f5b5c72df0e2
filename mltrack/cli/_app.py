"""The Typer application object and the error boundary shared by every command."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import re
import sys
import traceback
from collections.abc import Iterator
from typing import Any, get_args

import click
import typer
from rich.console import Console

from mltrack import __version__
from mltrack.errors import MltrackError
from mltrack.uris import redact_urls

try:  # typer >= 0.24 vendors click: its errors are not click's classes
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    _TyperClickException = click.ClickException  # type: ignore[misc,assignment]

_CLICK_ERRORS = (click.ClickException, _TyperClickException)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_EXITS = (click.exceptions.Exit, typer.Exit)

console = Console()
err_console = Console(stderr=True)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """Show ``message`` with a spinner on a terminal while the block runs.

    MLflow's artifact download bar is off meanwhile: drawn under Rich's live spinner it
    left a blank line above the command's output, and the spinner already says that
    the work is under way. Without a terminal there is no spinner, and MLflow's bar (on
    stderr) is left as the user set it.
    """
    if not console.is_terminal:
        yield
        return
    from mltrack.artifact_reads import no_download_bar

    with no_download_bar(), console.status(message):
        yield


USER_ERROR_EXIT = 2

#: MLflow client settings for the commands a person waits on, unless already set:
#: MLflow's defaults (7 retries with exponential backoff) take over four minutes to report
#: a tracking server that is down. Scripts run by ``ml train`` get the user's own values.
INTERACTIVE_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2"}
_added_defaults: set[str] = set()


def user_environment() -> dict[str, str]:
    """``os.environ`` without the defaults the CLI set for itself (for user scripts)."""
    return {key: value for key, value in os.environ.items() if key not in _added_defaults}


def exit_on_signal(signum: int, frame: object) -> None:
    """Signal handler: exit normally (``finally`` blocks and atexit run), status 128+N.

    For SIGTERM (`docker stop`, `systemctl stop`, Kubernetes): Python's default would end
    the process on the spot, leaving child processes and temp directories behind.
    """
    raise SystemExit(128 + signum)


class Stopped(KeyboardInterrupt):
    """A signal (SIGTERM) asked the command to stop: handled as Ctrl-C is (a run in
    progress ends KILLED, a child gets the same signal). The command that installed
    :func:`stop_on_signal` turns it into exit status 128+N."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def stop_on_signal(signum: int, frame: object) -> None:
    """Signal handler: stop the way Ctrl-C does (:class:`Stopped`), status 128+N."""
    raise Stopped(signum)


#: Other spellings of ``--format`` values, accepted without a word: one canonical name each.
FORMAT_ALIASES = {"md": "markdown"}


def choose_format(value: str, allowed: tuple[str, ...], option: str = "--format") -> str:
    """The canonical name of a ``--format`` value (``md`` -> ``markdown``), case-insensitive.

    Validated here rather than by a Click choice so that a typo is a one-line mltrack error
    (exit status 2) naming the values to use.

    Raises:
        MltrackError: ``value`` is neither an allowed format nor an alias of one.
    """
    key = value.strip().lower()
    key = FORMAT_ALIASES.get(key, key)
    if key not in allowed:
        raise MltrackError(f"unknown {option} '{value}': use one of {', '.join(allowed)}")
    return key


#: ``--format`` of the listing commands (``ml runs``, ``ml models``).
LIST_FORMATS = ("table", "json")


def list_format_option() -> Any:
    """The ``--format table|json`` option of a listing command."""
    return typer.Option(
        "table", "--format", "-f", metavar="<table|json>", help="table or json (for scripts)."
    )


def json_alias_option() -> Any:
    """``--json``: the deprecated spelling of ``--format json``, hidden from ``--help``.

    Kept so that existing scripts work unchanged: same output, nothing added on stderr.
    """
    return typer.Option(False, "--json", hidden=True, help="Deprecated: use --format json.")


def list_format(ctx: typer.Context, value: str, json_alias: bool) -> str:
    """The format a listing command prints: ``--format``, or ``json`` for ``--json``.

    Raises:
        MltrackError: an unknown ``--format``, or ``--json`` with another ``--format``.
    """
    kind = choose_format(value, LIST_FORMATS)
    if not json_alias:
        return kind
    # By name: typer >= 0.24 vendors click, whose ParameterSource is another enum.
    source = ctx.get_parameter_source("fmt")
    given = source is not None and source.name != "DEFAULT"
    if given and kind != "json":
        raise MltrackError(f"--json means --format json; drop one of --json and --format {kind}")
    return "json"


def _readable_help_types() -> None:
    """Show every value type in ``--help`` the same way: ``<str>``, ``<path>``, ``<url>``.

    Typer's rich help prints a type after every option, flags included, so a flag reads as
    if it took a value (``--local <bool>``); a list-valued parameter shows Python's
    annotation (``<list[Path]>``, ``<list[str]>``) and a bounded number ``<int range>``
    (the bounds follow in brackets anyway). Here flags and counters show no type, a list
    shows its element's type (an argument's name already ends in ``...``; a repeatable
    option says so in its help), a bounded number its plain type, and an option's own
    metavar (``URL``) reads like the types around it (``<url>``).
    """
    from typer.core import TyperArgument, TyperOption

    original_type = TyperOption.display_type
    original_rich = TyperOption.display_type_rich
    if getattr(original_rich, "_mltrack_types", False):
        return

    def display_type(self: Any, ctx: Any) -> str:
        desc = getattr(self, "type_descriptor", None)
        if desc is not None and desc.is_list:
            elements = get_args(desc.annotation)
            if len(elements) == 1 and not desc.is_choice:
                element = copy.copy(self)
                element.type_descriptor = dataclasses.replace(desc, annotation=elements[0])
                return display_type(element, ctx)
        if desc is not None and desc.is_ranged:
            return f"<{desc.ranged_type_name}>"
        label = str(original_type(self, ctx))
        if label.startswith("<list[") and label.endswith("]>"):  # a list of choices
            label = f"<{label[len('<list[') : -len(']>')]}>"
        return label

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        metavar = getattr(self, "metavar", None)
        if metavar and not metavar.startswith("<"):
            return f"<{metavar.lower()}>"
        return original_rich(self, ctx)

    display_type_rich._mltrack_types = True  # type: ignore[attr-defined]
    for cls in (TyperOption, TyperArgument):
        cls.display_type = display_type  # type: ignore[method-assign]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_readable_help_types()


def _uncut_option_help() -> None:
    """Wrap a word too long for the help column of ``--help`` instead of cutting it.

    Typer lays an option's help out in a rich grid whose columns end a word that does not
    fit with an ellipsis: at 100 columns `ml server --help` showed the example URI of
    ``--backend`` as ``postgresql://USER:PASSWORD@HOST:5432…``. Text that folds (breaks the
    word over two lines) loses nothing.
    """
    from rich.columns import Columns
    from rich.text import Text
    from typer import rich_utils

    original = getattr(rich_utils, "_get_parameter_help", None)
    if original is None or getattr(original, "_mltrack_fold", False):
        return  # another typer layout, or already wrapped

    def parameter_help(*args: Any, **kwargs: Any) -> Any:
        help_ = original(*args, **kwargs)
        if isinstance(help_, Columns):
            for item in help_.renderables:
                if isinstance(item, Text):
                    item.overflow = "fold"
        return help_

    parameter_help._mltrack_fold = True  # type: ignore[attr-defined]
    rich_utils._get_parameter_help = parameter_help


def _whole_option_names() -> None:
    """Keep option names whole in ``--help``, and give the freed width to the help text.

    Typer lays options out in a rich table: names, short names, the negative form of a
    flag (``--no-serve-artifacts``) and the short negative each in a column of its own,
    then the type and the help. In a narrow terminal rich cut the names (an 80-column
    ``ml server --help`` showed ``--default-permissi…``, which no one can type), and
    the negative form's column, empty on every row but one, squeezed every option's help
    to a third of the width. Here the negative form goes under its flag, in the same
    cell; name columns never wrap or cut (rich narrows the help instead); columns left
    empty are dropped.
    """
    from rich.table import Table
    from rich.text import Text
    from typer import rich_utils

    if getattr(rich_utils, "Table", None) is not Table:
        return  # another typer layout, or already replaced

    class OptionsTable(Table):
        def add_row(self, *cells: Any, **kwargs: Any) -> None:
            cells_ = list(cells)
            # An option row: [required,] long, short, negative long, negative short,
            # type, help (typer's _print_options_panel).
            names = len(cells_) - 6
            if names in (0, 1):
                for name, negative in ((names, names + 2), (names + 1, names + 3)):
                    if str(cells_[negative]):
                        merged = Text.assemble(cells_[name], "\n" if str(cells_[name]) else "")
                        merged.append_text(cells_[negative])
                        cells_[name], cells_[negative] = merged, Text("")
            super().add_row(*cells_, **kwargs)
            if names in (0, 1):
                for column in self.columns[: names + 4]:
                    column.no_wrap = True

        def __rich_console__(self, console: Any, options: Any) -> Any:
            used = [c for c in self.columns if any(str(cell) for cell in c.cells)]
            if used and len(used) < len(self.columns):
                self.columns = used
            return super().__rich_console__(console, options)

    rich_utils.Table = OptionsTable  # type: ignore[misc]


#: A line that starts a list item: its paragraph keeps its line breaks.
_LIST_ITEM = re.compile(r"\s*(?:[-*•]|\d+[.)])\s")


def _reflowed(paragraph: str) -> str:
    """A prose paragraph as one line (the terminal wraps it); anything laid out by hand
    (indented lines, list items, a ``\\b`` block) as written."""
    lines = paragraph.split("\n")
    if paragraph.startswith("\b") or any(
        line[:1].isspace() or _LIST_ITEM.match(line) for line in lines[1:]
    ):
        return paragraph
    return " ".join(line.strip() for line in lines)


def _reflowed_help() -> None:
    """Let a command's help paragraphs fill the terminal, and keep examples indented.

    In its ``rich`` markup mode Typer keeps every line break of a docstring after the
    first paragraph: a paragraph written 88 columns wide came out ragged in an 80-column
    terminal (each line wrapped, one word alone on the next), and the help did not use
    a wider one. Prose paragraphs are joined into one line here; laid-out ones stay. And
    Typer dedents the text again, measuring from its second line: an ``Examples:``
    paragraph first lost its commands' indentation.
    """
    from typer import rich_utils

    original = getattr(rich_utils, "_fix_linebreaks", None)
    if original is None or getattr(original, "_mltrack_reflow", False):
        return  # another typer layout, or already wrapped

    def fix_linebreaks(paragraphs: list[str], markup_mode: Any) -> str:
        if markup_mode == "rich":
            paragraphs = [_reflowed(paragraph) for paragraph in paragraphs]
        # An empty first line: the dedent that follows measures from the second line on,
        # which then is the first paragraph's own (so nothing laid out loses its indent).
        return "\n" + str(original(paragraphs, markup_mode))

    fix_linebreaks._mltrack_reflow = True  # type: ignore[attr-defined]
    rich_utils._fix_linebreaks = fix_linebreaks


def _tidy_help_when_shown() -> None:
    """Apply the three help layouts above when Typer first formats a help page.

    They patch ``typer.rich_utils``, whose import (rich's Markdown and markdown-it with
    it) took 80 ms of every ``ml`` command's start-up; Typer itself imports it only to
    print help or an error.
    """
    from typer.core import TyperCommand, TyperGroup

    def tidy() -> None:
        _uncut_option_help()
        _whole_option_names()
        _reflowed_help()

    for cls in (TyperCommand, TyperGroup):
        original = cls.format_help
        if getattr(original, "_mltrack_tidy", False):
            continue  # already wrapped

        def format_help(self: Any, ctx: Any, formatter: Any, _original: Any = original) -> Any:
            tidy()
            return _original(self, ctx, formatter)

        format_help._mltrack_tidy = True  # type: ignore[attr-defined]
        cls.format_help = format_help  # type: ignore[method-assign]


_tidy_help_when_shown()


def debug_enabled() -> bool:
    """True when tracebacks were asked for: ``--debug``, or the ``debug`` setting
    (``MLTRACK_DEBUG``, which overrides ``debug:`` in the project's ``.mltrack.yml``)."""
    from mltrack.config import load_settings

    try:
        return load_settings().debug
    except MltrackError:  # an invalid config file or variable: its own error says so
        return os.environ.get("MLTRACK_DEBUG", "").lower() in ("1", "true", "yes", "on")


class MltrackTyper(typer.Typer):
    """Typer app whose entry point turns user errors into one-line messages."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().__call__(*args, standalone_mode=False, **kwargs)
        except MltrackError as exc:
            if debug_enabled():  # the traceback, then the same line and status as without
                traceback.print_exc()
            _print_error(str(exc))
            sys.exit(USER_ERROR_EXIT)
        except _ABORTS:
            err_console.print("aborted")
            sys.exit(130)
        except KeyboardInterrupt:
            err_console.print("interrupted")
            sys.exit(130)
        except _EXITS as exc:
            sys.exit(exc.exit_code)
        except _CLICK_ERRORS as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except Exception as exc:
            # MLflow's own errors reach the CLI unwrapped from many commands (runs, compare,
            # promote, registry): the expected ones (401/403, no server) are user errors.
            # Anything else is a bug: its traceback, exit status 1.
            message = server_error_message(exc, _command(self, kwargs))
            if message is None:
                raise
            if debug_enabled():
                traceback.print_exc()
            _print_error(message)
            sys.exit(USER_ERROR_EXIT)
        # Outside standalone mode click returns the code of `typer.Exit(n)` instead of exiting.
        if isinstance(result, int) and not isinstance(result, bool):
            sys.exit(result)
        return result


def _print_error(message: str) -> None:
    # Last line of defence: an error quoting a URL (MLflow's do) never shows its password.
    shown = redact_urls(message)
    err_console.print(f"[bold red]error:[/] {shown}", highlight=False, soft_wrap=True)


def _command(app: typer.Typer, kwargs: dict[str, Any]) -> str:
    """``ml runs`` / ``ml server grant``: this invocation's command names, no values."""
    args = kwargs.get("args")
    words = ["ml"]
    group: Any = typer.main.get_command(app)
    for arg in sys.argv[1:] if args is None else list(args):
        commands = getattr(group, "commands", None)
        if arg.startswith("-") or not commands or arg not in commands:
            break
        words.append(arg)
        group = commands[arg]
    return " ".join(words)


_ENDPOINT = re.compile(r"request to endpoint (/\S+) failed with error code")


def server_error_message(exc: BaseException, command: str = "ml") -> str | None:
    """One line for a tracking-server failure MLflow raised: 401/403 or no connection.

    Returns None for anything else (a bug: the caller shows the traceback). The message
    holds no password: URIs are redacted and MLflow's own text (which may embed the
    request URL) is not repeated. The translation is :mod:`mltrack.mlflow_errors`'.
    """
    from mltrack.mlflow_errors import artifact_path, tracking_uri_shown, translate

    suffix = f" for `{command}`" if command != "ml" else ""
    for link in _chain(exc):
        artifact = artifact_path(link)
        if artifact is not None:
            action = f"access the artifact {artifact}{suffix}"
        else:
            endpoint = _ENDPOINT.search(str(link))
            what = endpoint.group(1).removeprefix("/api/2.0/mlflow/") if endpoint else "the API"
            action = f"use {what}{suffix}"
        error = translate(link, action, tracking_uri_shown())
        if error is not None:
            return str(error)
    return None


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 8:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


app = MltrackTyper(
    name="ml",
    help="mltrack: MLflow, made pleasant. Track runs, LLM cost, models, and ship them.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"mltrack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_version_callback,
        is_eager=True,
        help="Show the version and exit.",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
) -> None:
    """mltrack: MLflow, made pleasant."""
    if debug:
        os.environ["MLTRACK_DEBUG"] = "1"
    for key, value in INTERACTIVE_HTTP_DEFAULTS.items():
        if key not in os.environ:
            os.environ[key] = value
            _added_defaults.add(key)


def main() -> None:
    """Console-script entry point (``python -m mltrack``)."""
    app()
