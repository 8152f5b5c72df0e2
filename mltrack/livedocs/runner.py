"""Execute a plan: cache lookups, one throwaway server, parallel workers, cleanup.

Every item runs in its own process group (``start_new_session``) with its own temp
working directory and MLflow experiment; at its timeout the whole group is killed.
The build's temp directory and server are removed on success, on failure, on Ctrl-C
and on SIGTERM, and any process still carrying the build's marker variable (Jupyter
kernels live in their own session) is killed too.

Nothing outlives a build that is killed outright (SIGKILL) either
(:mod:`mltrack._process`): every long-lived child ends with its parent (server, pool,
workers, kernels, model servers examples start), a sentinel process kills whatever
still carries the marker and removes the temp dir, and the next build removes the temp
dirs of builds whose process is gone.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mltrack._process import (
    OWNER_ENV,
    kill_group,
    owned_tempdir,
    owner_env,
    processes_with_env,
    reap_tempdirs,
    start_sentinel,
)
from mltrack.errors import LiveDocsError
from mltrack.livedocs.cache import ResultCache
from mltrack.livedocs.model import (
    EngineConfig,
    ErrorInfo,
    Figure,
    Item,
    ItemResult,
    Plan,
    RunSummary,
)
from mltrack.livedocs.redact import Redactor, Scrubber, redact_notebook, redactor_for

__all__ = ["BuildReport", "Runner", "StderrProgress", "format_failure", "processes_with_env"]

#: Marker variable set in every worker's environment; used to find stragglers.
MARKER_ENV = "LIVEDOCS_BUILD_MARKER"
#: Extra seconds a worker may take to import and reach the server before its item starts.
_GRACE_S = 60.0
#: The worker runs as a plain script: it imports only the standard library before the item.
WORKER = str(Path(__file__).with_name("worker.py"))
#: What readers see instead of the throwaway server's random port.
PUBLIC_SERVER_URL = "http://localhost:5000"
#: Temp dirs a build (or what it runs) makes with :func:`owned_tempdir`; a later build
#: removes those whose owner process is gone.
REAPED_PREFIXES = (
    "mltrack-livedocs-",
    "mltrack-server-",
    "mltrack-serve-",
    "mltrack-teamserver-",
    "mltrack-model-",  # a model server's download dir, once stamped by its owner
)
_IMPORT_HINT = re.compile(r"^\s*(?:import|from)\s+(mlflow|mltrack)\b", re.M)

ProgressCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class BuildReport:
    """What a :meth:`Runner.run` did.

    Attributes:
        results: item id -> result.
        executed: ids of items that ran in this build.
        server_started: whether a throwaway server was started.
        server_start_s: its start-up time.
        wall_s: wall time of the whole run.
        jobs: worker count used.
    """

    results: dict[str, ItemResult] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    server_started: bool = False
    server_start_s: float = 0.0
    wall_s: float = 0.0
    jobs: int = 0

    @property
    def failures(self) -> list[ItemResult]:
        return [r for r in self.results.values() if not r.ok]

    def to_json(self) -> dict[str, Any]:
        """Telemetry of the build (written to ``last-build.json``)."""
        return {
            "wall_s": round(self.wall_s, 3),
            "server_started": self.server_started,
            "server_start_s": round(self.server_start_s, 3),
            "jobs": self.jobs,
            "executed": len(self.executed),
            "cached": sum(1 for r in self.results.values() if r.cached),
            "failed": len(self.failures),
            # Cached items keep the duration of the build that executed them.
            "slowest": [
                {"id": r.id, "duration_s": round(r.duration_s, 3), "cached": r.cached}
                for r in sorted(self.results.values(), key=lambda r: -r.duration_s)[:5]
            ],
            "items": [
                {
                    "id": r.id,
                    "status": "ok" if r.ok else "failed",
                    "cached": r.cached,
                    "duration_s": round(r.duration_s, 3),
                    "peak_rss_mb": None if r.peak_rss_mb is None else round(r.peak_rss_mb, 1),
                    "deps": sorted(r.deps),
                }
                for r in self.results.values()
            ],
        }


def format_failure(item: Item, result: ItemResult) -> str:
    """``page:line -> file:line: ExceptionType: message`` plus the traceback tail."""
    error = result.error or ErrorInfo("Error", "failed")
    if item.page_line is not None:  # a snippet: point at the page line itself
        page = item.id.rsplit(":", 1)[0]
        line = item.page_line + (error.line or 1)
        head = f"{page}:{line}: {error.type}: {error.message}"
        if error.source is not None:
            head += f"\n  {line:>4} | {error.source.strip()}"
        return head + (f"\n{error.tail}" if error.tail else "")
    location = item.path or item.command or item.id
    if error.cell is not None:
        location += f":cell {error.cell}"
    if error.line is not None:
        location += f":{error.line}"
    head = f"{location}: {error.type}: {error.message}"
    if item.where:
        head = f"{item.where} -> {head}"
    if error.source is not None and error.line is not None:
        head += f"\n  {error.line:>4} | {error.source.strip()}"
    return head + (f"\n{error.tail}" if error.tail else "")


class StderrProgress:
    """Progress lines on stderr for cold builds: done/total, then the slowest items."""

    def __init__(self, stream: Any = None, prefix: str = "livedocs"):
        self.stream = stream or sys.stderr
        self.prefix = prefix

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "start":
            self._write(
                f"executing {data['total']} item(s) with {data['jobs']} worker(s), "
                f"{data['cached']} cached"
            )
        elif event == "server":
            self._write(f"throwaway MLflow server ready in {data['seconds']:.1f} s")
        elif event == "item":
            result: ItemResult = data["result"]
            status = "ok" if result.ok else "FAILED"
            counter = f"[{data['done']}/{data['total']}]"
            self._write(f"{counter} {status:6} {result.id} ({result.duration_s:.1f} s)")
        elif event == "done":
            slowest = ", ".join(f"{r.id} {r.duration_s:.1f} s" for r in data["slowest"])
            self._write(
                f"{data['executed']} executed in {data['wall_s']:.1f} s; slowest: {slowest}"
            )

    def _write(self, text: str) -> None:
        print(f"{self.prefix}: {text}", file=self.stream, flush=True)


class _Cancelled(Exception):
    pass


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while running, so cleanup runs for both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _processes_with_marker(marker: str) -> list[int]:
    """PIDs of our processes whose environment carries ``MARKER_ENV=marker``."""
    return processes_with_env(MARKER_ENV, marker)


def _kill_marked(marker: str) -> None:
    for pid in _processes_with_marker(marker):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _kill_group(proc: subprocess.Popen[bytes], grace_s: float = 2.0) -> None:
    kill_group(proc, grace_s=grace_s)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")[:60] or "item"


class Runner:
    """Executes plans; keeps failed results in memory so an unchanged failing item is
    not re-run on every ``mkdocs serve`` rebuild (only changed items re-execute).

    Args:
        config: engine configuration.
        progress: callback for progress events (default: lines on stderr).
    """

    def __init__(self, config: EngineConfig, progress: ProgressCallback | None = None):
        self.config = config
        self.progress = progress or StderrProgress()
        self.cache = ResultCache(config.cache_path)
        self._failed: dict[str, ItemResult] = {}
        self._active: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._server_ready_at: float | None = None
        self._pool: _Pool | None = None
        self._rss: dict[int, float] = {}

    # -- public -----------------------------------------------------------------------

    def run(self, plan: Plan, force: bool = False, server_url: str | None = None) -> BuildReport:
        """Bring every item of ``plan`` up to date and return the results.

        Args:
            plan: from :func:`mltrack.livedocs.plan.build_plan`.
            force: ignore cached results (like ``--no-cache``).
            server_url: use this running tracking server instead of starting one (the
                pytest plugin shares one per session).

        Raises:
            KeyboardInterrupt: Ctrl-C or SIGTERM; everything started was cleaned up first.
            ServerStartError: the throwaway server did not start.
        """
        start = time.monotonic()
        reap_tempdirs(REAPED_PREFIXES)  # left by builds that were killed outright
        report = BuildReport(jobs=self._jobs())
        misses: list[Item] = []
        use_cache = self.config.use_cache and not force
        hashes: dict[str, str | None] = {}
        for item in plan.items.values():
            hit = self.cache.load(item.key) if use_cache else None
            if hit is not None and not self._deps_fresh(hit, hashes):
                hit = None  # a module it imports or a file it reads has changed
            if hit is None and use_cache and item.key in self._failed:
                hit = self._failed[item.key]
            if hit is not None:
                report.results[item.id] = hit
            else:
                misses.append(item)
        if misses:
            self._execute(misses, report, server_url)
        report.wall_s = time.monotonic() - start
        self._write_telemetry(report)
        return report

    def cached(self, item: Item) -> ItemResult | None:
        """The cached result of ``item`` if it is still valid (dependencies unchanged)."""
        hit = self.cache.load(item.key) if self.config.use_cache else None
        if hit is not None and not self._deps_fresh(hit, {}):
            return None
        return hit

    def _deps_fresh(self, result: ItemResult, hashes: dict[str, str | None]) -> bool:
        for rel, digest in result.deps.items():
            if rel not in hashes:
                path = self.config.root / rel
                hashes[rel] = _file_sha(path) if path.is_file() else None
            if hashes[rel] != digest:
                return False
        return True

    # -- execution --------------------------------------------------------------------

    def _jobs(self) -> int:
        return max(1, self.config.jobs or os.cpu_count() or 1)

    def _execute(self, misses: list[Item], report: BuildReport, server_url: str | None) -> None:
        self._cancel.clear()
        self._server_ready_at = None
        started = time.monotonic()
        marker = uuid.uuid4().hex
        tmp = owned_tempdir("mltrack-livedocs-")
        # If this process dies without cleaning up (SIGKILL), the sentinel does it.
        sentinel = start_sentinel(MARKER_ENV, marker, [tmp])
        server = None
        from mltrack.localserver import free_port, start_server

        port = free_port()
        url = server_url or f"http://127.0.0.1:{port}"
        # Compiled once per build: every captured output goes through it.
        secrets = redactor_for(
            self.config.redact_env_patterns, self.config.redact_env, self.config.redact_patterns
        )
        total = len(misses)
        self.progress("start", {"total": total, "jobs": report.jobs, "cached": len(report.results)})
        need_server = server_url is None and any(item.needs_server for item in misses)
        report.server_started = need_server
        # Files first, CLI captures after them (they may read state examples created).
        phases = [[i for i in misses if i.kind != "cli"], [i for i in misses if i.kind == "cli"]]
        done = 0
        try:
            modules = pool_modules(self.config, phases[0])
            if self.config.warm_pool and modules and len(phases[0]) > 1:
                self._pool = _Pool(modules, self._base_environment(marker))
            with _terminate_as_interrupt(), ThreadPoolExecutor(report.jobs) as pool:
                try:
                    # Workers start importing right away; they wait for the server's health.
                    futures: dict[Future[ItemResult], Item] = {
                        pool.submit(self._run_item, item, url, tmp, marker, secrets): item
                        for item in phases[0]
                    }
                    if need_server:
                        server = start_server(root=tmp / "server", port=port)
                        report.server_start_s = server.startup_s
                        self.progress("server", {"seconds": server.startup_s})
                    self._server_ready_at = time.monotonic()
                    for phase_index in (0, 1):
                        if phase_index == 1:
                            futures = {
                                pool.submit(self._run_item, item, url, tmp, marker, secrets): item
                                for item in phases[1]
                            }
                        pending = set(futures)
                        while pending:
                            finished, pending = wait(
                                pending, timeout=0.5, return_when=FIRST_COMPLETED
                            )
                            for future in finished:
                                result = future.result()
                                done += 1
                                self._record(futures[future], result, report)
                                self.progress(
                                    "item", {"result": result, "done": done, "total": total}
                                )
                except BaseException:
                    self._cancel.set()
                    self._kill_active()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            self._cancel.set()
            self._kill_active()
            if self._pool is not None:
                self._pool.stop()
                self._pool = None
            _kill_marked(marker)
            if server is not None:
                server.stop()
            shutil.rmtree(tmp, ignore_errors=True)
            sentinel.release()
        executed = [report.results[i] for i in report.executed]
        self.progress(
            "done",
            {
                "executed": len(executed),
                "wall_s": time.monotonic() - started,
                "slowest": sorted(executed, key=lambda r: -r.duration_s)[:3],
            },
        )

    def _record(self, item: Item, result: ItemResult, report: BuildReport) -> None:
        report.results[item.id] = result
        report.executed.append(item.id)
        if result.ok:
            notebook = Path(result.notebook) if result.notebook else None
            self.cache.store(result, notebook)
            self._failed.pop(item.key, None)
        else:
            self._failed[item.key] = result
            self.cache.store_failure(result)

    def _kill_active(self) -> None:
        with self._lock:
            procs = list(self._active.values())
        for proc in procs:
            _kill_group(proc, grace_s=1.0)

    def _base_environment(self, marker: str) -> dict[str, str]:
        env = dict(os.environ)
        for name in ("MLTRACK_NO_CACHE", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
            env.pop(name, None)
        env.update(
            {
                MARKER_ENV: marker,
                # Workers and the pool end with this process, even when it is SIGKILLed.
                **owner_env(),
                "PYTHONUNBUFFERED": "1",
                # The page shows a table of the runs; MLflow's "View run at" lines are noise.
                "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
                # Progress bars (MLflow's artifact downloads, anything on tqdm) redraw a
                # terminal line: on a page they are dozens of lines of noise.
                "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                "TQDM_DISABLE": "1",
                "PYTHONWARNINGS": "ignore",
                "PYTHONHASHSEED": "0",
                "COLUMNS": "88",
                "TERM": "xterm-256color",
                "MPLBACKEND": "Agg",
            }
        )
        return env

    def _environment(self, item: Item, url: str, marker: str, experiment: str) -> dict[str, str]:
        env = self._base_environment(marker)
        env.update(
            {
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_EXPERIMENT_NAME": experiment,
                "MLTRACK_EXPERIMENT": experiment,
                "MLTRACK_ITEM_ID": item.id,
            }
        )
        if item.kind == "notebook":
            env.pop("MPLBACKEND", None)  # ipykernel picks its inline backend
        if item.kind == "cli":
            # Commands print in colour as in a terminal. Scripts do not get this: one that
            # parses a command's output must see what it sees when run by hand.
            env["FORCE_COLOR"] = "1"
            # Only our workers read it; a command (killed with its group, or by the
            # sentinel) must not hand it to a grandchild that would take it as its own.
            env.pop(OWNER_ENV, None)
        return env

    def _run_item(
        self, item: Item, url: str, tmp: Path, marker: str, secrets: Redactor
    ) -> ItemResult:
        if self._cancel.is_set():
            raise _Cancelled(item.id)
        name = f"{_slug(item.id)}-{uuid.uuid4().hex[:6]}"
        workdir = tmp / "items" / name
        cwd = workdir / "cwd"
        out_dir = workdir / "out"
        cwd.mkdir(parents=True)
        out_dir.mkdir()
        experiment = f"livedocs-{name}"
        env = self._environment(item, url, marker, experiment)
        argv = self._argv(item, url, out_dir, experiment)
        log_path = workdir / "output.log"
        started = time.monotonic()
        timed_out = False
        dump_offset = 0
        with open(log_path, "wb") as log:
            proc: Any
            if self._pool is not None and item.kind in ("script", "notebook"):
                proc = self._pool.spawn(Path(argv[-1]), cwd, env, log_path)
            else:
                proc = subprocess.Popen(
                    argv,
                    cwd=cwd,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            with self._lock:
                self._active[proc.pid] = proc
            try:
                flag = out_dir / "started" if item.kind != "cli" else log_path
                timed_out = self._wait(proc, item, started, flag)
                if timed_out:
                    dump_offset = _request_stack_dump(proc, log_path)
            finally:
                _kill_group(proc)
                with self._lock:
                    self._active.pop(proc.pid, None)
        duration = time.monotonic() - started
        peak_rss = self._rss.pop(proc.pid, None)
        if self._cancel.is_set():
            raise _Cancelled(item.id)
        scrub = Scrubber(
            secrets,
            {
                url: PUBLIC_SERVER_URL,
                str(cwd) + os.sep: "",
                str(cwd): ".",
                str(tmp): "<tmp>",
                str(self.config.root) + os.sep: "",
            },
        )
        result = self._collect(
            item,
            proc,
            log_path,
            out_dir,
            dump_offset if timed_out else None,
            duration,
            url,
            experiment,
            scrub,
        )
        reported = result.peak_rss_mb  # what the worker measured at its end
        known = [v for v in (peak_rss, reported) if v is not None]
        result.peak_rss_mb = max(known) if known else None
        return result

    def _wait(self, proc: Any, item: Item, launched: float, started_flag: Path) -> bool:
        """Wait for the item; True when it ran past its timeout.

        The clock starts when the worker reports that the item itself starts (after its
        imports and the wait for the server), so a busy machine does not eat the budget.
        A worker that never gets there is given the timeout plus a grace period.
        """
        started_at: float | None = None
        while True:
            try:
                proc.wait(timeout=0.2)
                return False
            except subprocess.TimeoutExpired:
                pass
            rss = _peak_rss_mb(proc.pid)
            if rss is not None:
                self._rss[proc.pid] = max(rss, self._rss.get(proc.pid, 0.0))
            if self._cancel.is_set():
                return False
            now = time.monotonic()
            if started_at is None and started_flag.exists():
                started_at = now
            if started_at is not None:
                if now > started_at + item.timeout_s:
                    return True
                continue
            ready = self._server_ready_at
            if ready is not None and now > max(launched, ready) + item.timeout_s + _GRACE_S:
                return True

    def _argv(self, item: Item, url: str, out_dir: Path, env_experiment: str) -> list[str]:
        if item.kind == "cli":
            argv = shlex.split(item.command or "")
            bindir = os.path.dirname(sys.executable)
            found = shutil.which(argv[0], path=bindir + os.pathsep + os.environ.get("PATH", ""))
            if found is None:
                raise LiveDocsError(f"{item.where}: command {argv[0]!r} not found on PATH")
            return [found, *argv[1:]]
        assert item.path is not None
        source = (self.config.root / item.path).read_text(errors="replace")
        spec = {
            "kind": item.kind,
            "path": str(self.config.root / item.path),
            "out_dir": str(out_dir),
            "timeout_s": item.timeout_s,
            "kernel_name": self.config.kernel_name,
            "server_url": url,
            "experiment": env_experiment,
            "root": str(self.config.root),
            "preimport": sorted(set(_IMPORT_HINT.findall(source))) if item.kind == "script" else [],
            # Forked from the warm pool: the notebook's kernel is forked from it too.
            "warm_kernel": self._pool is not None and item.kind == "notebook",
        }
        spec_path = out_dir / "spec.json"
        spec_path.write_text(json.dumps(spec))
        return [sys.executable, WORKER, str(spec_path)]

    def _collect(
        self,
        item: Item,
        proc: subprocess.Popen[bytes],
        log_path: Path,
        out_dir: Path,
        dump_offset: int | None,
        duration: float,
        url: str,
        experiment: str,
        scrub: Scrubber,
    ) -> ItemResult:
        raw = log_path.read_bytes()
        timed_out = dump_offset is not None
        dump = scrub(raw[dump_offset:].decode("utf-8", errors="replace")) if timed_out else ""
        output = scrub(raw[:dump_offset].decode("utf-8", errors="replace"))
        result = ItemResult(
            id=item.id, key=item.key, ok=True, duration_s=duration, returncode=proc.returncode
        )
        data: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            data = json.loads((out_dir / "result.json").read_text())
        if timed_out:
            result.ok = False
            result.error = ErrorInfo(
                "TimeoutError",
                f"killed after {item.timeout_s:g} s; raise it with '# livedocs: timeout=N' "
                "or make the example faster",
                line=_line_in_dump(dump, item.path),
                tail=_condense_dump(dump),
            )
        elif item.kind == "cli":
            if proc.returncode != 0 and not item.allow_error:
                result.ok = False
                lines = output.strip().splitlines()
                result.error = ErrorInfo(
                    "CommandError",
                    f"exit code {proc.returncode}" + (f": {lines[-1]}" if lines else ""),
                    tail="\n".join(lines[-12:]),
                )
        elif data.get("error") or proc.returncode != 0:
            err = data.get("error") or {
                "type": "WorkerError",
                "message": f"worker exited with code {proc.returncode}",
                "tail": "\n".join(output.strip().splitlines()[-12:]),
            }
            result.ok = False
            result.error = ErrorInfo(
                type=err["type"],
                message=scrub(err.get("message", "")),
                line=err.get("line"),
                cell=err.get("cell"),
                tail=scrub(err.get("tail", "")),
                source=err.get("source") and scrub(err["source"]),
            )
        result.output = output
        if result.error is not None and result.error.source is None:
            source = self._source_line(item, result.error.line)
            result.error.source = source and scrub(source)
        result.deps = {
            rel: _file_sha(self.config.root / rel)
            for rel in data.get("deps", [])
            if (self.config.root / rel).is_file()
        }
        if isinstance(data.get("peak_rss_mb"), int | float):
            result.peak_rss_mb = float(data["peak_rss_mb"])
        figures = [_load_figure(f, scrub) for f in data.get("figures", [])]
        result.figures = [f for f in figures if f is not None]
        executed = out_dir / "executed.ipynb"
        if executed.is_file():
            _scrub_notebook(executed, scrub)
            result.notebook = str(executed)
        if not timed_out and item.needs_server:
            result.runs = _run_summaries(url, experiment, scrub)
        return result

    def _source_line(self, item: Item, line: int | None) -> str | None:
        if item.kind != "script" or item.path is None or line is None:
            return None
        lines = (self.config.root / item.path).read_text(errors="replace").splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None

    def _write_telemetry(self, report: BuildReport) -> None:
        path = self.config.cache_path / "last-build.json"
        # Atomic: pytest-xdist workers finish their builds concurrently, and a reader
        # (the build report page) must never see half a file.
        partial = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(report.to_json(), indent=2))
            os.replace(partial, path)
        except OSError:
            with contextlib.suppress(OSError):
                partial.unlink()


#: What the pool imports for warm notebook kernels (see worker.py, "warm kernels").
KERNEL_MODULES = ("ipykernel.kernelapp", "jupyter_client.manager", "nbclient", "nbformat")
#: Heavy modules the warm pool imports once when an example imports them.
POOL_MODULES = ("mlflow", "numpy", "pandas", "sklearn", "matplotlib", "mltrack")
#: ``import a.b`` / ``from a.b import c``: the module named (``a.b``).
_IMPORTED = re.compile(r"^\s*(?:import|from)\s+([A-Za-z_][A-Za-z0-9_.]*)", re.M)


class _ForkedProcess:
    """A worker forked by the pool; quacks like ``Popen`` for waiting and killing."""

    def __init__(self, pool: _Pool, pid: int):
        self.pool = pool
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.pool.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode


class _Pool:
    """Client of ``worker.py --pool``: forks pre-imported workers."""

    def __init__(self, modules: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(
            [sys.executable, WORKER, "--pool", ",".join(modules)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._pids: dict[int, int] = {}
        self._exits: dict[int, int] = {}
        self._ready = False
        self._dead = False
        self._next = 0
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                message = json.loads(raw)
                with self._changed:
                    if "ready" in message:
                        self._ready = True
                    elif "exit" in message:
                        self._exits[message["exit"]] = message["code"]
                    else:
                        self._pids[message["id"]] = message["pid"]
                    self._changed.notify_all()
        with self._changed:
            self._dead = True
            self._changed.notify_all()

    def exit_code(self, pid: int) -> int | None:
        with self._lock:
            if pid in self._exits:
                return self._exits[pid]
            if self._dead:
                return -signal.SIGKILL  # the pool died; its children were killed with it
        return None

    def spawn(self, spec: Path, cwd: Path, env: dict[str, str], log: Path) -> _ForkedProcess:
        """Fork a worker for one item (blocks until the pool has finished importing)."""
        with self._changed:
            request_id = self._next
            self._next += 1
            line = json.dumps(
                {"id": request_id, "spec": str(spec), "cwd": str(cwd), "env": env, "log": str(log)}
            )
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(line.encode() + b"\n")
                self.proc.stdin.flush()
            except OSError:
                raise LiveDocsError(
                    "the livedocs worker pool died; run with a fresh build"
                ) from None
            while request_id not in self._pids:
                if self._dead:
                    raise LiveDocsError("the livedocs worker pool died; run with a fresh build")
                self._changed.wait(0.5)
            return _ForkedProcess(self, self._pids.pop(request_id))

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        _kill_group(self.proc, grace_s=0.5)


def pool_modules(config: EngineConfig, items: list[Item]) -> list[str]:
    """Heavy modules the scripts and notebooks import (only those are worth pre-importing),
    plus what a warm notebook kernel needs when there are notebooks."""
    found: set[str] = set()
    notebooks = False
    for item in items:
        if item.kind not in ("script", "notebook") or not item.path:
            continue
        source = (config.root / item.path).read_text(errors="replace")
        if item.kind == "notebook":
            notebooks = True
            source = _notebook_code(source)
        found.update(name.rstrip(".") for name in _IMPORTED.findall(source))
    # The submodules too (`from sklearn.linear_model import Ridge`): a package's top
    # level is often light, its submodules are what an example waits for.
    modules = []
    for package in POOL_MODULES:
        named = sorted(m for m in found if m == package or m.startswith(package + "."))
        if named and package == "matplotlib":
            named = sorted({*named, "matplotlib.pyplot"} - {"matplotlib"})
        modules += named
    return [*modules, *KERNEL_MODULES] if notebooks else modules


def _notebook_code(text: str) -> str:
    """The code cells of a notebook, one after another (``""`` if it is not JSON)."""
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    sources = [c.get("source", "") for c in cells if c.get("cell_type") == "code"]
    return "\n".join(s if isinstance(s, str) else "".join(s) for s in sources)


def _file_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _peak_rss_mb(pid: int) -> float | None:
    """Peak resident set size of a running process (Linux ``VmHWM``), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _request_stack_dump(proc: subprocess.Popen[bytes], log_path: Path) -> int:
    """Ask a timed-out worker where it is stuck (SIGUSR1 -> faulthandler); return the
    log offset where that dump starts."""
    offset = log_path.stat().st_size
    if proc.poll() is not None:
        return offset
    with contextlib.suppress(OSError):
        os.kill(proc.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 1.0
    size = offset
    while time.monotonic() < deadline:
        time.sleep(0.1)
        new_size = log_path.stat().st_size
        if new_size > offset and new_size == size:
            break  # the dump was written and has stopped growing
        size = new_size
    return offset


#: Frames of the worker itself (and its exit-with-parent watchdog), not of the example.
_OWN_FRAMES = ("<frozen runpy>", "livedocs/worker.py", "mltrack/_process.py")
#: A frame of the watchdog thread :func:`mltrack._process.exit_with_parent` starts.
_WATCHDOG_FRAME = "mltrack/_process.py"


def _condense_dump(dump: str) -> str:
    """The faulthandler dump without the worker's own frames and threads."""
    blocks: list[list[str]] = [[]]
    for line in dump.splitlines():
        if line.startswith(("Thread ", "Current thread ")):
            blocks.append([line.split(" (", 1)[0].replace("Current thread", "Thread") + ":"])
        elif line.strip():
            blocks[-1].append(line)
    lines = ["Still running when killed (most recent call first):"]
    for block in blocks:
        if any(_WATCHDOG_FRAME in line for line in block):
            continue  # the exit-with-parent watchdog thread, not the example's
        lines += [line for line in block if not any(own in line for own in _OWN_FRAMES)]
    return "\n".join(lines[:25])


def _line_in_dump(dump: str, path: str | None) -> int | None:
    if not path:
        return None
    for match in re.finditer(r'File "([^"]+)", line (\d+)', dump):
        if match.group(1).endswith(path):
            return int(match.group(2))  # most recent call first
    return None


def _load_figure(entry: dict[str, str], scrub: Scrubber) -> Figure | None:
    path = Path(entry["file"])
    mime = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}.get(
        path.suffix.lower()
    )
    if mime is None or not path.is_file() or path.stat().st_size > 5_000_000:
        return None
    data = path.read_bytes()
    if mime == "image/svg+xml":  # text: a secret may be drawn in it
        data = scrub(data.decode("utf-8", errors="replace")).encode()
    return Figure(name=scrub(entry["name"]), mime=mime, data=base64.b64encode(data).decode())


def _scrub_notebook(path: Path, scrub: Scrubber) -> None:
    """Scrub every output of the executed copy (all MIME types, JSON data recursively)."""
    nb = redact_notebook(json.loads(path.read_text()), scrub)
    path.write_text(json.dumps(nb, indent=1))


def _api(url: str, endpoint: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    if body is None:
        request = urllib.request.Request(url + endpoint)
    else:
        request = urllib.request.Request(
            url + endpoint,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return dict(json.loads(resp.read() or b"{}"))


def _run_summaries(url: str, experiment: str, scrub: Scrubber) -> list[RunSummary]:
    """Runs the item created in its experiment (name, status, params, metrics)."""
    try:
        query = urllib.parse.urlencode({"experiment_name": experiment})
        exp = _api(url, f"/api/2.0/mlflow/experiments/get-by-name?{query}")["experiment"]
        found = _api(
            url,
            "/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [exp["experiment_id"]],
                "max_results": 50,
                "order_by": ["attributes.start_time ASC"],
            },
        )
    except (OSError, ValueError, KeyError):
        return []  # no experiment: the item created no run
    runs = []
    for run in found.get("runs", []):
        info, data = run.get("info", {}), run.get("data", {})
        runs.append(
            RunSummary(
                name=scrub(info.get("run_name", "")),
                status=info.get("status", ""),
                params={scrub(p["key"]): scrub(str(p["value"])) for p in data.get("params", [])},
                metrics={scrub(m["key"]): float(m["value"]) for m in data.get("metrics", [])},
            )
        )
    return runs
