"""Data types shared by the planner, the runner, the cache and the renderers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mltrack.errors import LiveDocsError
from mltrack.livedocs.directives import Directive

__all__ = [
    "EngineConfig",
    "ErrorInfo",
    "Figure",
    "Item",
    "ItemResult",
    "Plan",
    "RunSummary",
    "Screenshot",
]

ItemKind = Literal["script", "notebook", "cli"]


@dataclass
class EngineConfig:
    """Where things are and how to run them; independent of any site generator.

    Attributes:
        root: project root; item paths are relative to it.
        docs_dir: Markdown pages, relative to ``root``.
        examples_dirs: directories whose ``*.py`` files must be referenced by a page.
        notebooks_dir: directory whose ``*.ipynb`` files are executed and rendered.
        jobs: parallel workers; ``None`` = CPU count.
        timeout_s: default per-item timeout.
        cache_dir: cache location, relative to ``root`` unless absolute.
        use_cache: read cached results (results are always written).
        kernel_name: Jupyter kernel used for notebooks.
        redact_env_patterns: env var name fragments whose values are redacted.
        redact_env: more env var names (exact or ``*`` globs) whose values are redacted.
        redact_patterns: regular expressions redacted on top of the built-in token shapes.
        cli_sources: package directories whose Python files key the CLI captures.
        strict_unreferenced: in strict mode an unreferenced example is an error.
        warm_pool: fork script workers from a process that imported mlflow once.
        spare_server: after a build that used a throwaway server, start the next one
            ahead of need (``mkdocs serve``: a save re-renders without a server start).
    """

    root: Path
    docs_dir: str = "docs"
    examples_dirs: tuple[str, ...] = ("examples",)
    notebooks_dir: str = "notebooks"
    jobs: int | None = None
    timeout_s: float = 120.0
    cache_dir: str = ".cache/livedocs"
    use_cache: bool = True
    kernel_name: str = "python3"
    redact_env_patterns: tuple[str, ...] = ("TOKEN", "KEY", "SECRET", "PASSWORD")
    redact_env: tuple[str, ...] = ()
    redact_patterns: tuple[str, ...] = ()
    cli_sources: tuple[str, ...] = ("mltrack",)
    strict_unreferenced: bool = True
    warm_pool: bool = True
    spare_server: bool = False

    @property
    def cache_path(self) -> Path:
        path = Path(self.cache_dir)
        return path if path.is_absolute() else self.root / path


@dataclass
class Item:
    """One executable thing: an example script, a notebook or a CLI capture.

    Attributes:
        id: stable identifier (the relative path, or ``cli:<command>``).
        kind: ``script``, ``notebook`` or ``cli``.
        path: file relative to the project root (``None`` for CLI captures).
        command: the CLI command line (CLI captures only).
        timeout_s: per-item timeout (header ``# livedocs: timeout=N`` overrides the default).
        inputs: files the author declared the item reads (``inputs=a.csv,b.csv``).
        allow_error: a non-zero exit is expected (CLI captures of error messages).
        page_line: for a snippet, the page line of its opening fence (errors point there).
        key: cache key, filled by the planner.
        refs: directives that embed this item.
        screenshots: ``screenshot:`` blocks showing what this item left on the server;
            they are taken right after it ran and cached with its result.
    """

    id: str
    kind: ItemKind
    path: str | None = None
    command: str | None = None
    timeout_s: float = 120.0
    inputs: list[str] = field(default_factory=list)
    allow_error: bool = False
    page_line: int | None = None
    key: str = ""
    refs: list[Directive] = field(default_factory=list)
    screenshots: list[Directive] = field(default_factory=list)

    @property
    def needs_server(self) -> bool:
        """``--help`` captures need no tracking server; everything else may."""
        return not (self.kind == "cli" and (self.command or "").rstrip().endswith("--help"))

    @property
    def where(self) -> str:
        """``page:line`` of the first page that embeds the item, or ``''``."""
        return self.refs[0].where if self.refs else ""


@dataclass(frozen=True)
class Problem:
    """A mistake found while planning: where it is (``page:line``, or a file) and what.

    Attributes:
        where: the block's ``page:line`` (or the file, for a notebook or header).
        message: what is wrong and how to fix it.
    """

    where: str
    message: str

    @classmethod
    def of(cls, error: LiveDocsError, fallback: str) -> Problem:
        """The problem an exception names (at ``fallback`` when it names no place)."""
        return cls(error.where or fallback, error.message)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Plan:
    """What a build must have: items keyed by id, every directive, problems found.

    The plan is the only authority on which item a block shows (:meth:`item_for`) and
    on what is wrong with a block (:meth:`problem_at`).
    """

    items: dict[str, Item] = field(default_factory=dict)
    directives: list[Directive] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: ``page:line`` of each block -> id of the item it shows.
    item_ids: dict[str, str] = field(default_factory=dict)

    def item_for(self, where: str) -> Item | None:
        """The item the block at ``where`` (``page:line``) shows, if it was planned."""
        item_id = self.item_ids.get(where)
        return self.items.get(item_id) if item_id is not None else None

    def problem_at(self, where: str) -> Problem | None:
        """The problem of the block at exactly ``where``, if any."""
        return next((p for p in self.problems if p.where == where), None)


@dataclass
class ErrorInfo:
    """Why an item failed.

    Attributes:
        type: exception type name (``TimeoutError`` for a timeout).
        message: exception message.
        line: line in the item's file (1-based), or ``None``.
        cell: notebook cell number (1-based), or ``None``.
        tail: last lines of the traceback.
        source: the failing source line, when known.
    """

    type: str
    message: str
    line: int | None = None
    cell: int | None = None
    tail: str = ""
    source: str | None = None


@dataclass
class Figure:
    """An image produced by an item, base64-encoded."""

    name: str
    mime: str
    data: str


@dataclass
class RunSummary:
    """An MLflow run the item created."""

    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]


@dataclass
class Screenshot:
    """A view of what an item left on the server, shot in the light and dark scheme.

    Attributes:
        spec: which block it was taken for (:func:`mltrack.livedocs.screenshots.spec_id`).
        where: ``page:line`` of the block that asked for it first.
        ok: both images were taken and the view rendered without an error.
        light: PNG in the light scheme, base64-encoded.
        dark: PNG in the dark scheme, base64-encoded.
        width: image width in pixels.
        height: image height in pixels.
        text: the visible text of the view, volatile values masked (what snapshots diff).
        target: what was opened, as a reader would write it (``/#/experiments/<id>/runs``).
        error: why the view could not be shot, when not ``ok``.
    """

    spec: str
    where: str
    ok: bool
    light: str = ""
    dark: str = ""
    width: int = 0
    height: int = 0
    text: str = ""
    target: str = ""
    error: str = ""


@dataclass
class ItemResult:
    """The outcome of executing one item (what the cache stores).

    Attributes:
        id: the item id.
        key: the cache key it was produced under.
        ok: the item ran to completion.
        output: combined stdout/stderr, ANSI colours kept, secrets redacted.
        figures: images the item produced.
        runs: MLflow runs it created.
        error: failure details when not ``ok``.
        duration_s: wall time of the item itself (not the waits for the warm pool and
            the throwaway server at the start of a build).
        returncode: exit status of the process.
        cached: ``True`` when this result came from the cache in this build.
        notebook: path of the executed notebook copy (notebooks only).
        deps: project files the item imported or read (path -> sha256), found by tracing;
            a cached result is stale when one of them changed.
        peak_rss_mb: peak resident memory of the item's process.
        cpu_s: CPU seconds of the item's process and the children it waited for.
        screenshots: views of what it left on the server (``screenshot:`` blocks).
    """

    id: str
    key: str
    ok: bool
    output: str = ""
    figures: list[Figure] = field(default_factory=list)
    runs: list[RunSummary] = field(default_factory=list)
    error: ErrorInfo | None = None
    duration_s: float = 0.0
    returncode: int | None = None
    cached: bool = False
    notebook: str | None = None
    deps: dict[str, str] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    cpu_s: float | None = None
    screenshots: list[Screenshot] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("cached")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ItemResult:
        error = data.get("error")
        return cls(
            id=data["id"],
            key=data["key"],
            ok=data["ok"],
            output=data.get("output", ""),
            figures=[Figure(**f) for f in data.get("figures", [])],
            runs=[RunSummary(**r) for r in data.get("runs", [])],
            error=ErrorInfo(**error) if error else None,
            duration_s=data.get("duration_s", 0.0),
            returncode=data.get("returncode"),
            notebook=data.get("notebook"),
            deps=data.get("deps", {}),
            peak_rss_mb=data.get("peak_rss_mb"),
            cpu_s=data.get("cpu_s"),
            screenshots=[Screenshot(**s) for s in data.get("screenshots", [])],
        )
