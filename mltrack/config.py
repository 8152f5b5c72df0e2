"""mltrack settings: ``.mltrack.yml`` < environment < explicit arguments.

The file is searched upwards from the current directory. Environment variables are
``MLTRACK_<KEY>`` for top-level keys and ``MLTRACK_<SECTION>__<KEY>`` for nested ones
(e.g. ``MLTRACK_LLM__BUDGET_USD=5``); values are parsed as YAML scalars, so ``true`` and
``1.5`` get their natural types. ``MLFLOW_TRACKING_URI`` is honoured too.

Every key is validated: an unknown key anywhere in the file, an unknown key in a section
(``MLTRACK_LLM__BUDGET`` for ``llm.budget``) or a value of the wrong type raises
:class:`~mltrack.errors.ConfigError` naming the file (or variable), the key and the
expected type. An ``MLTRACK_*`` variable whose first part names no setting
(``MLTRACK_BUDGET_USD``, or a tool's own variable) is not a setting at all: it is ignored,
and ``ml doctor`` lists it as a possible typo.

The configuration reference in the docs is generated from these models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mltrack.errors import ConfigError
from mltrack.uris import repr_without_passwords

__all__ = [
    "CONFIG_FILENAME",
    "DocsSettings",
    "LLMSettings",
    "LoggingSettings",
    "ModelPrice",
    "PromotionSettings",
    "ServeSettings",
    "Settings",
    "find_config_file",
    "load_settings",
]

CONFIG_FILENAME = ".mltrack.yml"
ENV_PREFIX = "MLTRACK_"
#: Variables that belong to mltrack but are not settings keys (secrets, process plumbing).
NON_SETTINGS_ENV_VARS = frozenset(
    {
        "MLTRACK_API_TOKEN",
        "MLTRACK_CHROMIUM",
        "MLTRACK_DB_CONNECTIONS",
        "MLTRACK_FORKSERVER",
        "MLTRACK_ITEM_ID",
        "MLTRACK_LIVEDOCS_CHILD_OPENS",
        "MLTRACK_LIVEDOCS_ROOT",
        "MLTRACK_LIVEDOCS_SERVER",
        "MLTRACK_LIVEDOCS_STRICT",
        "MLTRACK_MIGRATE_URL",
        "MLTRACK_MODEL_DIR",
        "MLTRACK_NO_CACHE",
        "MLTRACK_OWNED_PATHS",
        "MLTRACK_OWNER_PID",
        "MLTRACK_PG_CLUSTER",
        "MLTRACK_SERVER_ALLOWED_HOSTS",
        "MLTRACK_SERVER_START",
        "MLTRACK_SERVER_THREADS",
        "MLTRACK_SITE_DIR",
    }
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoggingSettings(_Section):
    """The buffered metric logger."""

    batch_size: int = Field(
        1000,
        ge=1,
        le=1000,
        description="Metric values per `log_batch` request (MLflow allows at most 1000).",
    )
    flush_interval_s: float = Field(
        1.0, gt=0, description="Longest time a value waits in the queue before it is sent."
    )
    max_queue: int = Field(
        1_000_000,
        ge=1000,
        description="Values held in memory before `log_metric` blocks (back-pressure).",
    )
    spool_dir: str | None = Field(
        None,
        description="Where batches go while the server is unreachable; default `.mltrack/spool` in the project.",
    )
    retry_interval_s: float = Field(
        2.0, gt=0, description="Seconds between reconnection attempts while spooling."
    )
    max_in_flight: int = Field(
        4,
        ge=1,
        le=32,
        description="`log_batch` requests one process keeps on their way to a tracking server at once (1: one at a time).",
    )


class ModelPrice(_Section):
    """Price override for one LLM model, in US dollars per million tokens."""

    input_per_million: float = Field(ge=0, description="USD per 1M input (prompt) tokens.")
    output_per_million: float = Field(ge=0, description="USD per 1M output (completion) tokens.")
    cached_input_per_million: float | None = Field(
        None, ge=0, description="USD per 1M cached input tokens, when the provider discounts them."
    )


class LLMSettings(_Section):
    """LLM call tracking (`@track_llm`)."""

    budget_usd: float | None = Field(
        None, ge=0, description="Default spending limit per budget scope; none when unset."
    )
    warn_at: float = Field(
        0.8, gt=0, le=1, description="Fraction of the budget at which one warning is emitted."
    )
    on_budget_exceeded: Literal["raise", "warn"] = Field(
        "raise", description="Raise `BudgetExceeded` before the next call, or only warn."
    )
    redact_prompts: bool = Field(
        False, description="Replace prompt and response text in traces with `[redacted]`."
    )
    prices: dict[str, ModelPrice] = Field(
        default_factory=dict,
        description="Per-model price overrides for private or fine-tuned models, keyed by model name.",
    )
    start_run: bool = Field(
        True,
        description="`@track_llm` starts a run (named after the scope) when no MLflow run is "
        "active; when false, only traces are written.",
    )
    remote_price_catalog: bool = Field(
        False,
        description="Let MLflow download its latest LLM price catalog from GitHub instead of "
        "using the one bundled with the installed MLflow (offline-safe, reproducible). "
        "`MLFLOW_MODEL_CATALOG_URI`, when set, wins.",
    )
    export_threads: int = Field(
        1,
        ge=1,
        le=64,
        description="Threads exporting traces in the background (MLflow's default is 10). "
        "One thread keeps a trace's span and trace uploads in order (concurrent uploads could "
        "leave the server's trace-level cost partial) and takes the least of the caller's "
        "time (p99 added to a call: ~3 ms, against ~12 ms with 10 threads). Raise it only "
        "for sustained rates above ~50 traced calls per second. "
        "`MLFLOW_ASYNC_TRACE_LOGGING_MAX_WORKERS`, when set, wins.",
    )
    export_batch_spans: int = Field(
        64,
        ge=1,
        le=4096,
        description="Spans MLflow's background exporter collects before it uploads them "
        "(MLflow's default is 5): one upload per ~30 tracked calls instead of one per ~2, "
        "which halves the time a call loses to the export (p50 added: ~1.2 ms instead of "
        "~2.5 ms, scripts/bench/llm_overhead.py) and its CPU. Spans still leave at least "
        "every 5 s (`MLFLOW_ASYNC_TRACE_LOGGING_MAX_INTERVAL_MILLIS`), at "
        "`mlflow.flush_trace_async_logging()` and at exit. "
        "`MLFLOW_ASYNC_TRACE_LOGGING_MAX_SPAN_BATCH_SIZE`, when set, wins.",
    )


class PromotionSettings(_Section):
    """Champion-vs-challenger recommendation rule (`ml compare --champion/--challenger`)."""

    metric: str | None = Field(
        None,
        description=(
            "Primary metric; default: the first of f1, accuracy, roc_auc, r2, rmse, mae, "
            "log_loss, loss that both runs share (also as a prefix or suffix, e.g. val_f1), "
            "else the alphabetically first shared metric."
        ),
    )
    higher_is_better: bool | None = Field(
        None,
        description="Direction of the primary metric; guessed from its name when unset (loss/error/rmse: lower).",
    )
    min_improvement: float = Field(
        0.0,
        ge=0,
        description="Relative improvement the challenger needs on the primary metric (0.01 = 1%).",
    )
    guard_metrics: dict[str, float] = Field(
        default_factory=dict,
        description="Metrics that must not regress by more than the given relative tolerance.",
    )


class ServeSettings(_Section):
    """The model server (`ml ship --local`)."""

    host: str = Field("127.0.0.1", description="Interface to bind; loopback by default.")
    port: int = Field(8080, ge=1, le=65535, description="TCP port.")
    auth: bool = Field(
        True,
        description="Require a bearer token (`MLTRACK_API_TOKEN`, or a generated one printed once).",
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest request body accepted; larger gets 413."
    )
    rate_limit_per_minute: int | None = Field(
        None, ge=1, description="Requests per minute per token; over it gets 429. Off when unset."
    )


def regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a redaction pattern (ends a one-line error), or None."""
    import re

    try:
        regex = re.compile(pattern)
    except re.error as exc:
        return f"is not a valid regular expression ({exc}); fix or remove it"
    if regex.match(""):
        return "matches the empty string; make it match at least one character"
    return None


class DocsSettings(_Section):
    """The live docs engine."""

    jobs: int | None = Field(
        None, ge=1, description="Parallel workers; default: number of CPU cores."
    )
    timeout_s: float = Field(
        120.0,
        gt=0,
        description="Default per-item timeout; the item's process group is killed after it.",
    )
    cache_dir: str = Field(
        ".cache/livedocs",
        description="Where executed outputs are cached, relative to the project root.",
    )
    kernel_name: str = Field(
        "python3",
        description="Jupyter kernel that executes notebooks (`make install` registers `python3`).",
    )
    redact_env_patterns: list[str] = Field(
        default_factory=lambda: ["TOKEN", "KEY", "SECRET", "PASSWORD"],
        description="Values of environment variables whose names contain one of these are "
        "replaced by `[redacted]` in captured output (and their fragments of 8 characters "
        "or more).",
    )
    redact_env: list[str] = Field(
        default_factory=list,
        description="More environment variables whose values are redacted: exact names or "
        "`*` globs (`SERVICE_AUTH`, `ACME_*`), case-insensitive.",
    )
    redact_patterns: list[str] = Field(
        default_factory=list,
        description="Regular expressions redacted in captured output, on top of the built-in "
        "token shapes; a group named `secret` limits the redaction to that group.",
    )

    @field_validator("redact_patterns")
    @classmethod
    def _valid_regexes(cls, patterns: list[str]) -> list[str]:
        for index, pattern in enumerate(patterns):
            problem = regex_problem(pattern)
            if problem is not None:
                raise ValueError(f"item {index} {pattern!r} {problem}")
        return patterns

    strict_unreferenced: bool = Field(
        True,
        description="In strict builds (`mkdocs build --strict`, `ml docs check`) an example "
        "that no page embeds is an error, not only a warning.",
    )
    warm_pool: bool = Field(
        True,
        description="Fork example workers from a process that imported mlflow once, instead "
        "of starting a fresh interpreter per example (much faster cold builds).",
    )


@repr_without_passwords  # tracking_uri may be http://user:password@host
class Settings(_Section):
    """All mltrack settings. Every key may appear in `.mltrack.yml`."""

    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking URI; default: a local sqlite store under `.mltrack/` in the project. Env: `MLFLOW_TRACKING_URI` too.",
    )
    experiment: str | None = Field(
        None, description="Experiment used by `@track` and `mltrack.run()` when none is given."
    )
    autolog: bool = Field(True, description="Enable MLflow autologging for detected frameworks.")
    autolog_frameworks: list[str] | None = Field(
        None,
        description="Restrict autologging to these frameworks (e.g. `[sklearn]`); all detected when unset.",
    )
    autolog_log_models: bool = Field(
        False,
        description="Let autologging also log a model at every `fit` (slow when there are many fits); `mltrack.save()` logs the model you pick.",
    )
    log_git: bool = Field(
        True,
        description="Record the project repository's commit, branch, dirty flag and remote as run tags (MLflow tags a script's own repository in any case).",
    )
    log_system: bool = Field(
        True, description="Record user, host, Python and mltrack versions as run tags."
    )
    max_param_length: int = Field(
        6000,
        ge=100,
        le=6000,
        description="Longer parameter values are truncated (MLflow's limit is 6000).",
    )
    debug: bool = Field(False, description="Show tracebacks for CLI errors.")
    logging: LoggingSettings = Field(default_factory=LoggingSettings)  # type: ignore[arg-type]
    llm: LLMSettings = Field(default_factory=LLMSettings)  # type: ignore[arg-type]
    promotion: PromotionSettings = Field(default_factory=PromotionSettings)  # type: ignore[arg-type]
    serve: ServeSettings = Field(default_factory=ServeSettings)  # type: ignore[arg-type]
    docs: DocsSettings = Field(default_factory=DocsSettings)  # type: ignore[arg-type]

    # Set by load_settings: where values came from, for `ml doctor` and error messages.
    config_path: Path | None = Field(
        None, exclude=True, description="The `.mltrack.yml` in effect (read-only)."
    )
    project_root: Path = Field(
        default_factory=Path.cwd,
        exclude=True,
        description="Directory of the config file, else the git root, else the working directory (read-only).",
    )


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """``:LINE:COL: not valid YAML (problem)`` from PyYAML's error, 1-based like editors."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or exc.__class__.__name__
    return f"{where}: not valid YAML ({problem})"


def find_config_file(start: Path | None = None) -> Path | None:
    """Return the nearest ``.mltrack.yml`` at or above ``start`` (default: cwd)."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_FILENAME
        if candidate.is_file():
            return candidate
    return None


def shown_path(path: Path | str) -> str:
    """``path`` as a message shows it: relative to the working directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _project_root(start: Path, config_path: Path | None) -> Path:
    if config_path is not None:
        return config_path.parent
    for directory in (start, *start.parents):
        if (directory / ".git").exists():
            return directory
    return start


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key '{loc}'"
    if kind == "value_error":  # a validator's own sentence, which quotes what is wrong
        return f"key '{loc}': {error['msg'].removeprefix('Value error, ')}"
    expected = error["msg"].replace("Input should be ", "expected ")
    return f"key '{loc}': {expected} (got {error.get('input')!r})"


def _env_overrides(environ: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Nested dict of ``MLTRACK_*`` values and a map key path -> variable name."""
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_SETTINGS_ENV_VARS:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if parts[0] not in Settings.model_fields:
            # Not a settings key: tools and scripts use MLTRACK_* names for their own
            # plumbing. `ml doctor` lists them (see unknown_env_vars), they never crash a run.
            continue
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError:
            value = raw
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
        origins[".".join(parts)] = name
    if "MLFLOW_TRACKING_URI" in environ and "tracking_uri" not in data:
        data["tracking_uri"] = environ["MLFLOW_TRACKING_URI"]
        origins["tracking_uri"] = "MLFLOW_TRACKING_URI"
    return data, origins


def unknown_env_vars(environ: dict[str, str] | None = None) -> list[str]:
    """``MLTRACK_*`` variables that are neither settings nor known plumbing (typos?)."""
    environ = dict(os.environ if environ is None else environ)
    return sorted(
        name
        for name in environ
        if name.startswith(ENV_PREFIX)
        and name not in NON_SETTINGS_ENV_VARS
        and name[len(ENV_PREFIX) :].lower().split("__")[0] not in Settings.model_fields
    )


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(
    start: Path | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Load settings from the nearest ``.mltrack.yml``, the environment and ``overrides``.

    Args:
        start: directory to search the config file from (default: cwd).
        environ: environment mapping (default: ``os.environ``).
        **overrides: explicit values; they win over file and environment.

    Raises:
        ConfigError: unreadable YAML, an unknown key, or a value of the wrong type.
    """
    start = (start or Path.cwd()).resolve()
    environ = dict(os.environ if environ is None else environ)
    path = find_config_file(start)
    file_data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{shown_path(path)}{_yaml_problem(exc)}; fix the syntax") from None
        if not isinstance(loaded, dict):
            raise ConfigError(
                f"{shown_path(path)}: expected a mapping of keys at the top level, "
                f"got {type(loaded).__name__}"
            )
        file_data = loaded
    # Validate each layer alone first so the error names the layer that is wrong.
    try:
        Settings.model_validate(file_data)
    except ValidationError as exc:
        raise ConfigError(
            f"{shown_path(path or CONFIG_FILENAME)}: {_describe(dict(exc.errors()[0]))}"
        ) from None
    env_data, origins = _env_overrides(environ)
    try:
        Settings.model_validate(env_data)
    except ValidationError as exc:
        first: dict[str, Any] = dict(exc.errors()[0])
        loc = ".".join(str(p) for p in first["loc"])
        var = origins.get(loc) or ENV_PREFIX + "__".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"environment variable {var}: {_describe(first)}") from None
    merged = _merge(
        _merge(file_data, env_data), {k: v for k, v in overrides.items() if v is not None}
    )
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(f"argument: {_describe(dict(exc.errors()[0]))}") from None
    settings.config_path = path
    settings.project_root = _project_root(start, path)
    return settings
