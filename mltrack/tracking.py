"""Runs: the ``@track`` decorator and the ``mltrack.run()`` context manager.

A tracked run records, with as few requests as possible:

* the function's arguments as params (dicts, dataclasses and pydantic models flattened
  to ``a.b.c`` keys; keys sanitised and values truncated to MLflow's limits, with one
  warning — a bad param never stops training);
* tags: user, host, Python, MLflow and mltrack versions, and the git state (commit,
  branch, dirty flag, remote without credentials);
* the returned number, or dict of numbers, as metrics;
* status ``FINISHED``, or ``FAILED`` with the exception class and message (the exception
  is re-raised), or ``KILLED`` on Ctrl-C.

Runs nest: a tracked function called inside another run becomes its child. When the
tracking server cannot be reached the code still runs; the run is recorded in the
on-disk spool and created on the server later (see :mod:`mltrack.logging`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import getpass
import inspect
import math
import os
import platform
import re
import socket
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, overload

from mltrack import __version__
from mltrack.config import Settings, load_settings
from mltrack.errors import MltrackError, RunNotFoundError
from mltrack.notices import notice_once
from mltrack.run_context import current_run, enter_run, leave_run
from mltrack.spool import LOCAL_RUN_PREFIX, SpoolBatch
from mltrack.store import tracking_store
from mltrack.uris import repr_without_passwords, stdout_without_passwords

__all__ = [
    "RunHandle",
    "RunInfo",
    "current_run",
    "flatten_params",
    "get_last_run",
    "get_run",
    "run",
    "track",
]

F = TypeVar("F", bound=Callable[..., Any])

_MAX_KEY = 250
_KEY_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-. /]")


# --------------------------------------------------------------------------- params
def _is_pydantic(obj: Any) -> bool:
    return hasattr(obj, "model_dump") and hasattr(type(obj), "model_fields")


def _describe_value(value: Any) -> str:
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, str | bytes):
        return f"<{type(value).__name__} shape={tuple(shape)}>"
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float) or value is None:
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return repr(value) if len(value) <= 50 else f"<{type(value).__name__} len={len(value)}>"
    if callable(value):
        return getattr(value, "__qualname__", type(value).__name__)
    return repr(value)


def flatten_params(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts, dataclasses and pydantic models into ``a.b`` keys.

    Examples:
        >>> flatten_params({"opt": {"lr": 0.1, "betas": (0.9, 0.99)}})
        {'opt.lr': 0.1, 'opt.betas': (0.9, 0.99)}
    """
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = dataclasses.asdict(value)
        elif _is_pydantic(value):
            value = value.model_dump()
        if isinstance(value, Mapping) and value:
            flat.update(flatten_params(value, prefix=f"{name}."))
        else:
            flat[name] = value
    return flat


def sanitize_params(params: Mapping[str, Any], max_length: int) -> tuple[dict[str, str], list[str]]:
    """Make params acceptable to MLflow: returns (params, problems fixed)."""
    clean: dict[str, str] = {}
    problems: list[str] = []
    for raw_key, value in params.items():
        key = _KEY_BAD_CHARS.sub("_", str(raw_key))[:_MAX_KEY] or "_"
        if key != raw_key:
            problems.append(f"key {raw_key!r} renamed to {key!r}")
        text = _describe_value(value)
        if len(text) > max_length:
            problems.append(f"value of {key!r} truncated from {len(text)} to {max_length} chars")
            text = text[: max_length - 3] + "..."
        clean[key] = text
    return clean, problems


def _metrics_from_result(result: Any) -> dict[str, float]:
    if isinstance(result, bool):
        return {}
    if isinstance(result, int | float):
        return {"result": float(result)} if math.isfinite(result) else {}
    if isinstance(result, Mapping):
        flat = flatten_params(result)
        return {
            k: float(v)
            for k, v in flat.items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        }
    return {}


# --------------------------------------------------------------------------- tags
def system_tags() -> dict[str, str]:
    """User, host, Python and library versions."""
    from importlib.metadata import version

    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = "unknown"
    return {
        "mlflow.user": user,
        "mltrack.host": socket.gethostname(),
        "mltrack.python": platform.python_version(),
        "mltrack.version": __version__,
        "mltrack.mlflow_version": version("mlflow"),
    }


# --------------------------------------------------------------------------- runs
@repr_without_passwords  # tracking_uri may be http://user:password@host
@dataclasses.dataclass
class RunHandle:
    """The run being tracked (yielded by :func:`run`).

    Attributes:
        id: MLflow run id, or ``local-…`` while the server is unreachable.
        name: run name.
        tracking_uri: where the run lives.
        experiment: experiment name (``None``: MLflow's default).
        offline: True when the run is spooled because the server was unreachable.
    """

    id: str
    name: str
    tracking_uri: str
    experiment: str | None = None
    offline: bool = False

    def log_metric(self, key: str, value: float, step: int | None = None) -> None:
        """Log a metric to this run (buffered)."""
        from mltrack.logging import get_logger

        get_logger(self.tracking_uri).log(self.id, key, value, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """Log several metrics to this run (buffered)."""
        from mltrack.logging import get_logger

        logger = get_logger(self.tracking_uri)
        ts = int(time.time() * 1000)
        for key, value in metrics.items():
            logger.log(self.id, key, value, step, ts)

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log params (flattened, sanitised) to this run."""
        _log_params_and_tags(self, params, {}, load_settings())

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on this run."""
        _log_params_and_tags(self, {}, {k: str(v) for k, v in tags.items()}, load_settings())


def _log_params_and_tags(
    handle: RunHandle, params: Mapping[str, Any], tags: Mapping[str, str], settings: Settings
) -> None:
    from mltrack.logging import get_logger

    clean, problems = sanitize_params(flatten_params(params), settings.max_param_length)
    for problem in problems:
        notice_once(f"param {problem} to fit MLflow's limits")
    logger = get_logger(handle.tracking_uri)
    batch = SpoolBatch(handle.id, params=list(clean.items()), tags=list(tags.items()))
    if not batch.size():
        return
    logger.flush()  # keep ordering with metrics already queued
    logger._send_or_spool(batch)


def _start(
    name: str,
    experiment: str | None,
    nested: bool | None,
    tags: Mapping[str, str],
    settings: Settings,
) -> RunHandle:
    from mltrack.logging import get_logger

    uri = tracking_store(settings).uri
    logger = get_logger(uri)
    parent = current_run()
    reachable = not logger.offline and logger.transport.is_reachable()
    # A child of a spooled (offline) run is spooled too: replay creates both, in order.
    if reachable and not (parent is not None and parent.offline):
        try:
            return _start_online(name, experiment, nested, tags, settings, uri)
        except Exception as exc:
            from mltrack.mlflow_errors import Failure, classify, tracking_uri_shown, translate
            from mltrack.transport import ServerUnreachable
            from mltrack.uris import redact_urls

            if isinstance(exc, MltrackError):
                raise
            if classify(exc) in (Failure.UNAUTHENTICATED, Failure.DENIED):
                target = experiment or _env_experiment() or "Default"
                denied = translate(exc, f"use experiment {target!r}", tracking_uri_shown())
                if denied is not None:
                    raise denied from None
            if logger.transport.is_reachable():
                raise MltrackError(redact_urls(f"could not start a run on {uri}: {exc}")) from None
            logger.mark_offline(str(ServerUnreachable(f"{uri}: {exc}")))  # it redacts
    elif not reachable:
        logger.mark_offline(f"{uri} did not answer /health")
    if experiment is None and parent is not None:
        experiment = parent.experiment  # a nested run belongs to its parent's experiment
    record = {
        "experiment_name": experiment or _env_experiment(),
        "run_name": name,
        "start_time": int(time.time() * 1000),
        "tags": dict(tags),
        # Under `ml train`, the script's run (spooled or not) is the parent.
        "parent_id": parent.id if parent is not None else os.environ.get("MLFLOW_RUN_ID"),
    }
    local_id = logger.spool.new_local_run(record)
    return RunHandle(local_id, name, uri, experiment, offline=True)


def _start_online(
    name: str,
    experiment: str | None,
    nested: bool | None,
    tags: Mapping[str, str],
    settings: Settings,
    uri: str,
) -> RunHandle:
    import mlflow

    if experiment:
        _ensure_experiment(experiment, uri, settings)
    active = mlflow.active_run()
    is_nested = nested if nested is not None else active is not None
    # Under `ml train`, MLFLOW_RUN_ID names the script's run: plain mlflow calls
    # resume it, tracked functions become its children.
    parent_env = os.environ.pop("MLFLOW_RUN_ID", None) if active is None else None
    # A spooled `local-…` parent (an `ml train` that started offline) is not on the server
    # yet: this run starts on its own.
    parent_id = parent_env if parent_env and not parent_env.startswith(LOCAL_RUN_PREFIX) else None
    try:
        started = mlflow.start_run(
            run_name=name, nested=is_nested, tags=dict(tags), parent_run_id=parent_id
        )
    finally:
        if parent_env:
            os.environ["MLFLOW_RUN_ID"] = parent_env
    return RunHandle(str(started.info.run_id), name, uri, experiment)


def _env_experiment() -> str | None:
    return os.environ.get("MLFLOW_EXPERIMENT_NAME")


def _ensure_experiment(name: str, uri: str, settings: Settings) -> None:
    import mlflow

    if mlflow.get_experiment_by_name(name) is None and uri.startswith("sqlite:"):
        location = settings.project_root / ".mltrack" / "artifacts" / name
        with contextlib.suppress(Exception):  # lost a creation race: fine
            mlflow.create_experiment(name, artifact_location=location.as_uri())
    experiment = mlflow.set_experiment(name)
    # When another process creates the experiment at the same moment, MLflow's
    # set_experiment returns it WITHOUT making it active, and the run would land in the
    # default experiment: activate it by id (it exists now).
    if mlflow.tracking.fluent._active_experiment_id != experiment.experiment_id:
        mlflow.set_experiment(experiment_id=experiment.experiment_id)


def _end(handle: RunHandle, status: str, error: BaseException | None) -> None:
    """Complete the run before its block returns: read-after-write holds.

    Everything logged inside (buffered metrics, the run's ``llm.*`` totals, error tags)
    is on the server and the status is set when this returns; or, with the server
    unreachable, all of it is in the spool and one line on stderr says so. The links
    MLflow prints as it ends the run show no password of the tracking URI.
    """
    with stdout_without_passwords(handle.tracking_uri):
        _complete(handle, status, error)


def _complete(handle: RunHandle, status: str, error: BaseException | None) -> None:
    import mlflow

    from mltrack.logging import get_logger

    logger = get_logger(handle.tracking_uri)
    if error is not None:
        message = str(error)[:5000]
        _log_params_and_tags(
            handle,
            {},
            {"mltrack.error.type": type(error).__name__, "mltrack.error.message": message},
            load_settings(),
        )
    llm = sys.modules.get("mltrack.llm._tracker")  # imported only when LLM calls were tracked
    if llm is not None:
        llm.log_run_totals(handle.id, handle.tracking_uri)
    end_time = int(time.time() * 1000)
    if handle.offline:
        logger.flush()
        logger.spool.finish_local_run(handle.id, status, end_time)
        active = mlflow.active_run()
        if active is not None and active.info.run_id == handle.id:
            mlflow.end_run(status)
        # The server may be back already: then the run is created and ended on it now.
        if not logger.catch_up():
            logger.report_run_spooled(handle.id, handle.name, status)
        return
    try:
        if not logger.catch_up():  # some values are in the spool and the server is away
            raise ConnectionError("offline")
        active = mlflow.active_run()
        if active is not None and active.info.run_id == handle.id:
            from mltrack.transport import TrackingTransport

            TrackingTransport(handle.tracking_uri).terminate_run(handle.id, status, end_time)
            mlflow.end_run(status)  # pops MLflow's stack (re-sends the same status)
        else:
            logger.transport.terminate_run(handle.id, status, end_time)
    except Exception:
        logger.spool.finish_run_later(handle.id, status, end_time)
        _pop_mlflow_run(handle.id)
        logger.report_run_spooled(handle.id, handle.name, status)


def _pop_mlflow_run(run_id: str) -> None:
    """Remove a run from MLflow's active-run stack without contacting the server."""
    from mlflow.tracking import fluent

    stack = fluent._active_run_stack.get()
    if stack and stack[-1].info.run_id == run_id:
        stack.pop()


@contextlib.contextmanager
def run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    nested: bool | None = None,
    autolog: bool | None = None,
    log_git: bool | None = None,
) -> Iterator[RunHandle]:
    """Track a block of code as an MLflow run.

    Args:
        name: run name (default: ``run``).
        experiment: experiment name (default: ``experiment`` in settings, then
            ``MLFLOW_EXPERIMENT_NAME``, then MLflow's default experiment).
        params: parameters to log (flattened and sanitised).
        tags: extra tags.
        nested: force (or forbid) nesting under the active run; default: nest when a run
            is active.
        autolog: framework autologging for this run (default: ``autolog`` in settings).
            ``False`` also switches off, until the run ends, autologging that an earlier
            run of this process turned on (see :mod:`mltrack.frameworks`).
        log_git: record git state (default: ``log_git`` in settings).

    Yields:
        A :class:`RunHandle` for logging metrics, params and tags.

    Examples:
        >>> with mltrack.run("baseline", params={"lr": 0.1}) as r:
        ...     r.log_metric("accuracy", 0.93)
    """
    settings = load_settings()
    all_tags: dict[str, str] = {}
    if settings.log_system:
        all_tags.update(system_tags())
    if log_git if log_git is not None else settings.log_git:
        from mltrack.gitinfo import git_info

        info = git_info(settings.project_root)
        if info is not None:
            all_tags.update(info.as_tags())
    all_tags.update({k: str(v) for k, v in (tags or {}).items()})
    experiment = experiment or settings.experiment
    from mltrack.frameworks import autolog_scope

    # Entered before the run starts: a bad `autolog_frameworks` fails before any run exists.
    with autolog_scope(
        autolog if autolog is not None else settings.autolog,
        settings.autolog_frameworks,
        log_models=settings.autolog_log_models,
    ):
        handle = _start(name or "run", experiment, nested, all_tags, settings)
        token = enter_run(handle)
        try:
            if params:
                _log_params_and_tags(handle, params, {}, settings)
            yield handle
        except KeyboardInterrupt as exc:
            _end(handle, "KILLED", exc)
            raise
        except BaseException as exc:
            _end(handle, "FAILED", exc)
            raise
        else:
            _end(handle, "FINISHED", None)
        finally:
            leave_run(token)


@overload
def track(func: F) -> F: ...


@overload
def track(
    func: None = None,
    *,
    name: str | None = None,
    experiment: str | None = None,
    log_args: bool = True,
    log_result: bool = True,
    tags: Mapping[str, Any] | None = None,
    nested: bool | None = None,
    autolog: bool | None = None,
) -> Callable[[F], F]: ...


def track(
    func: F | None = None,
    *,
    name: str | None = None,
    experiment: str | None = None,
    log_args: bool = True,
    log_result: bool = True,
    tags: Mapping[str, Any] | None = None,
    nested: bool | None = None,
    autolog: bool | None = None,
) -> F | Callable[[F], F]:
    """Track every call of a function as an MLflow run.

    Usable bare (``@track``) or with options (``@track(experiment="iris")``). Works on
    sync and async functions.

    Args:
        func: the function (when used bare).
        name: run name (default: the function's name).
        experiment: experiment name (see :func:`run`).
        log_args: log the call's arguments (with defaults applied) as params.
        log_result: log a returned number as metric ``result`` and a returned dict's
            numeric values as metrics.
        tags: extra tags.
        nested: see :func:`run`.
        autolog: framework autologging for these runs; see :func:`run`.

    Returns:
        The wrapped function; it returns what the original returns.
    """

    def decorate(fn: F) -> F:
        run_name = name or fn.__name__
        signature = inspect.signature(fn)

        def arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
            if not log_args:
                return {}
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return {}
            bound.apply_defaults()
            values: dict[str, Any] = {}
            for param_name, value in bound.arguments.items():
                kind = signature.parameters[param_name].kind
                if param_name in ("self", "cls"):
                    continue
                if kind is inspect.Parameter.VAR_KEYWORD:
                    values.update(value)
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    values.update({f"{param_name}.{i}": v for i, v in enumerate(value)})
                else:
                    values[param_name] = value
            return values

        def record(handle: RunHandle, result: Any) -> None:
            if log_result:
                metrics = _metrics_from_result(result)
                if metrics:
                    handle.log_metrics(metrics)

        def open_run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            return run(
                run_name,
                experiment=experiment,
                params=arguments(args, kwargs),
                tags=tags,
                nested=nested,
                autolog=autolog,
            )

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with open_run(args, kwargs) as handle:
                    result = await fn(*args, **kwargs)
                    record(handle, result)
                    return result

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with open_run(args, kwargs) as handle:
                result = fn(*args, **kwargs)
                record(handle, result)
                return result

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate


# --------------------------------------------------------------------------- queries
@dataclasses.dataclass(frozen=True)
class RunInfo:
    """A finished or running MLflow run, as plain Python values.

    Attributes:
        id: run id.
        name: run name.
        experiment_id: experiment id.
        status: ``RUNNING``, ``FINISHED``, ``FAILED`` or ``KILLED``.
        start_time: start, milliseconds since the epoch.
        end_time: end, milliseconds since the epoch (``None`` while running).
        params: params as strings.
        metrics: latest value of each metric.
        tags: tags (MLflow's internal ``mlflow.*`` tags included).
        artifact_uri: root of the run's artifacts.
        model_uri: ``models:/<id>`` of the latest model logged by the run, if any.
    """

    id: str
    name: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifact_uri: str
    model_uri: str | None = None

    @property
    def duration_s(self) -> float | None:
        """Wall time in seconds, ``None`` while running."""
        return None if self.end_time is None else (self.end_time - self.start_time) / 1000


def _to_run_info(run_obj: Any, model_uri: str | None) -> RunInfo:
    return RunInfo(
        id=run_obj.info.run_id,
        name=run_obj.info.run_name or "",
        experiment_id=run_obj.info.experiment_id,
        status=run_obj.info.status,
        start_time=run_obj.info.start_time,
        end_time=run_obj.info.end_time,
        params=dict(run_obj.data.params),
        metrics=dict(run_obj.data.metrics),
        tags=dict(run_obj.data.tags),
        artifact_uri=run_obj.info.artifact_uri,
        model_uri=model_uri,
    )


def _model_uri_for(client: Any, run_obj: Any) -> str | None:
    try:
        models = client.search_logged_models(
            experiment_ids=[run_obj.info.experiment_id],
            filter_string=f"source_run_id = '{run_obj.info.run_id}'",
            max_results=1,
            order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        )
    except Exception:
        return None
    return f"models:/{models[0].model_id}" if models else None


def get_run(run_id: str) -> RunInfo:
    """Fetch a run by id.

    Raises:
        RunNotFoundError: no run has this id (or it is still only in the spool).
    """
    from mlflow import MlflowClient

    tracking_store()
    from mltrack.logging import catch_up
    from mltrack.spool import server_id_of

    catch_up()  # what this process logged (or spooled, if the server is back) is read back
    if run_id.startswith(LOCAL_RUN_PREFIX):
        # A run started while the server was away: replayed by now if the server is back.
        server_id = server_id_of(run_id)
        if server_id is None:
            raise RunNotFoundError(
                f"run {run_id} is spooled locally (server was unreachable); run `ml sync` "
                "once the server is back"
            )
        run_id = server_id
    from mltrack.mlflow_errors import mlflow_errors

    client = MlflowClient()
    with mlflow_errors(
        f"read run {run_id}",
        not_found=lambda: RunNotFoundError(f"no run with id {run_id!r}; list runs with `ml runs`"),
        invalid_is_not_found=True,
    ):
        run_obj = client.get_run(run_id)
    return _to_run_info(run_obj, _model_uri_for(client, run_obj))


def resolve_experiments(
    client: Any, experiment: str | None, settings: Settings | None = None
) -> dict[str, str]:
    """Map id -> name of the experiment to look in: the named one, else the configured one
    (``experiment`` setting, then ``MLFLOW_EXPERIMENT_NAME``), else all experiments.

    Raises:
        RunNotFoundError: a name was given or configured but no such experiment exists.
    """
    settings = settings or load_settings()
    name = experiment or settings.experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return {e.experiment_id: e.name for e in client.search_experiments()}
    found = client.get_experiment_by_name(name)
    if found is None:
        raise RunNotFoundError(f"no experiment named {name!r}; see `ml runs` for all experiments")
    return {found.experiment_id: found.name}


def get_last_run(experiment: str | None = None, include_nested: bool = False) -> RunInfo:
    """The most recently started run of ``experiment`` (default: the configured one).

    Args:
        experiment: experiment name; default: ``experiment`` in settings, then
            ``MLFLOW_EXPERIMENT_NAME``, then all experiments.
        include_nested: also consider child runs (by default the last *top-level* run is
            returned, e.g. the sweep rather than its last trial).

    Raises:
        RunNotFoundError: the experiment has no runs (or does not exist).
    """
    from mlflow import MlflowClient

    settings = load_settings()
    tracking_store(settings)
    from mltrack.logging import catch_up

    catch_up()  # what this process logged (or spooled, if the server is back) is read back
    client = MlflowClient()
    experiments = resolve_experiments(client, experiment, settings)
    runs = list(
        client.search_runs(
            list(experiments), order_by=["attributes.start_time DESC"], max_results=200
        )
    )
    if not include_nested:
        runs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags] or runs
    if not runs:
        where = ", ".join(experiments.values()) or "any experiment"
        raise RunNotFoundError(f"no runs yet in {where}; track one with @track")
    return _to_run_info(runs[0], _model_uri_for(client, runs[0]))
