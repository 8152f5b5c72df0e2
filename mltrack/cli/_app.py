"""The Typer application object and the error boundary shared by every command."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import typer
from rich.console import Console

from mltrack import __version__
from mltrack.errors import MltrackError

try:  # typer >= 0.24 vendors click: its errors are not click's classes
    from typer._click.exceptions import ClickException as _TyperClickException
except ImportError:  # pragma: no cover - older typer uses click itself
    _TyperClickException = click.ClickException  # type: ignore[misc,assignment]

_CLICK_ERRORS = (click.ClickException, _TyperClickException)
_ABORTS = (click.exceptions.Abort, typer.Abort)
_EXITS = (click.exceptions.Exit, typer.Exit)

console = Console()
err_console = Console(stderr=True)

USER_ERROR_EXIT = 2


def debug_enabled() -> bool:
    """True when tracebacks were asked for with ``--debug`` or ``MLTRACK_DEBUG``."""
    return os.environ.get("MLTRACK_DEBUG", "").lower() in ("1", "true", "yes", "on")


class MltrackTyper(typer.Typer):
    """Typer app whose entry point turns user errors into one-line messages."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            result = super().__call__(*args, standalone_mode=False, **kwargs)
        except MltrackError as exc:
            if debug_enabled():
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
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
        # Outside standalone mode click returns the code of `typer.Exit(n)` instead of exiting.
        if isinstance(result, int) and not isinstance(result, bool):
            sys.exit(result)
        return result


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


def main() -> None:
    """Console-script entry point (``python -m mltrack``)."""
    app()
