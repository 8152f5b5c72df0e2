"""mltrack's own reads of MLflow artifacts, without MLflow's download bar.

MLflow draws a tqdm bar ("Downloading artifacts") for every download, however small: on
stderr, or as a widget in a notebook. A model card reads a few files of a few hundred
bytes and loads the model: as many bars of noise, around output a user may be piping
to a file. Drawn under the CLI's own spinner, a bar also left a blank line behind.

MLflow's only switch is a process-wide variable, ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR``,
read when a bar is made. :func:`no_download_bar` turns it off while any thread is inside
and puts back the user's own value (or its absence) when the last one leaves; a download
another thread starts meanwhile has no bar either.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

__all__ = ["DOWNLOAD_BAR_ENV", "no_download_bar"]

#: MLflow's switch for its artifact download bar.
DOWNLOAD_BAR_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"

_lock = threading.Lock()
_inside = 0
_saved: str | None = None


@contextlib.contextmanager
def no_download_bar() -> Iterator[None]:
    """MLflow draws no download bar while the block runs (re-entrant, thread-safe)."""
    global _inside, _saved
    with _lock:
        if _inside == 0:
            _saved = os.environ.get(DOWNLOAD_BAR_ENV)
            os.environ[DOWNLOAD_BAR_ENV] = "false"
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0:
                if _saved is None:
                    os.environ.pop(DOWNLOAD_BAR_ENV, None)
                else:
                    os.environ[DOWNLOAD_BAR_ENV] = _saved
