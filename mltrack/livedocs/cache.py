"""On-disk cache of item results under ``.cache/livedocs/`` (one JSON file per key)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from mltrack.livedocs.model import ItemResult

__all__ = ["ResultCache"]


class ResultCache:
    """Successful results keyed by the item's content hash.

    Failures are never loaded as results: a failing item runs again on the next build.
    The last failure of a key is kept apart (:meth:`load_failure`) for renderers that
    only read the cache (the Zensical fence), so they report it as the build did.
    Writes are atomic (write to a temp file, then rename), so concurrent builds
    and Ctrl-C never leave half an entry behind.
    """

    def __init__(self, directory: Path):
        self.directory = directory

    def _entry(self, key: str) -> Path:
        return self.directory / "items" / f"{key}.json"

    def notebook_path(self, key: str) -> Path:
        """Where the executed copy of a notebook with this key is kept."""
        return self.directory / "notebooks" / f"{key}.ipynb"

    def load(self, key: str) -> ItemResult | None:
        """The stored result for ``key``, or ``None``."""
        path = self._entry(key)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        result = ItemResult.from_json(data)
        if result.notebook is not None and not self.notebook_path(key).is_file():
            return None
        if result.notebook is not None:
            result.notebook = str(self.notebook_path(key))
        result.cached = True
        return result

    def store(self, result: ItemResult, notebook: Path | None = None) -> None:
        """Store a successful result (and the executed notebook, if any)."""
        if not result.ok:
            return
        if notebook is not None:
            target = self.notebook_path(result.key)
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(f".{os.getpid()}.tmp")
            shutil.copyfile(notebook, partial)
            os.replace(partial, target)
            result.notebook = str(target)
        self._write(self._entry(result.key), result)
        with contextlib.suppress(OSError):
            self._failure(result.key).unlink()

    def store_failure(self, result: ItemResult) -> None:
        """Keep the (redacted) failure of ``result.key`` until it succeeds."""
        self._write(self._failure(result.key), result)

    def load_failure(self, key: str) -> ItemResult | None:
        """The last failure stored for ``key``, or ``None``."""
        try:
            return ItemResult.from_json(json.loads(self._failure(key).read_text()))
        except (OSError, ValueError):
            return None

    def _failure(self, key: str) -> Path:
        return self.directory / "failed" / f"{key}.json"

    def _write(self, path: Path, result: ItemResult) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(result.to_json()))
        os.replace(partial, path)

    def prune(self, keep: set[str]) -> int:
        """Delete entries whose key is not in ``keep``; return how many were removed."""
        removed = 0
        for sub, suffix in (("items", ".json"), ("failed", ".json"), ("notebooks", ".ipynb")):
            for path in (self.directory / sub).glob(f"*{suffix}"):
                if path.stem not in keep:
                    with contextlib.suppress(OSError):
                        path.unlink()
                        removed += 1
        return removed
