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

This module schedules; the processes it runs (warm fork pool, /proc sampling, stack
dumps, kills) are in :mod:`~mltrack.livedocs.processes`, and what an item left behind
becomes its result in :mod:`~mltrack.livedocs.collect`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from mltrack._forkserver import ForkServer, runs_mltrack, start_forkserver
from mltrack._process import (
    OWNER_ENV,
    kill_group,
    owned_tempdir,
    owner_env,
    processes_with_env,
    reap_tempdirs,
    start_sentinel,
)
from mltrack.errors import LiveDocsError, ServerStartError
from mltrack.livedocs.cache import ResultCache
from mltrack.livedocs.collect import (
    claim_experiment,
    claimed_experiment,
    collect,
    file_sha,
    preload_client,
)
from mltrack.livedocs.model import EngineConfig, ErrorInfo, Item, ItemResult, Plan
from mltrack.livedocs.processes import (
    KERNEL_MODULES,
    MARKER_ENV,
    POOL_MODULES,
    WORKER,
    WorkerPool,
    kill_marked,
    peak_rss_mb,
    pool_modules,
    request_stack_dump,
    terminate_as_interrupt,
)
from mltrack.livedocs.redact import Redactor, Scrubber, redactor_for
from mltrack.livedocs.screenshots import Photographer

if TYPE_CHECKING:
    from mltrack.localserver import ThrowawayServer

__all__ = [
    "KERNEL_MODULES",
    "MARKER_ENV",
    "POOL_MODULES",
    "WORKER",
    "BuildReport",
    "Runner",
    "StderrProgress",
    "experiment_names",
    "format_failure",
    "pool_modules",
    "processes_with_env",
]

#: The pool's old name (the benchmarks and tests import it from here).
_Pool = WorkerPool
#: Extra seconds a worker may take to import and reach the server before its item starts.
_GRACE_S = 60.0
#: What readers see instead of the throwaway server's random port.
PUBLIC_SERVER_URL = "http://localhost:5000"


def _public_address(url: str) -> dict[str, str]:
    """The local server's ``127.0.0.1:PORT`` -> ``localhost:5000`` (a user's server: none)."""
    netloc = url.split("://", 1)[-1].split("/", 1)[0]
    public = PUBLIC_SERVER_URL.split("://", 1)[1]
    return {netloc: public} if netloc.startswith("127.0.0.1:") else {}


#: The user name examples run as (``USER``/``LOGNAME``): what pages show as who ran them.
DOCS_USER = "docs"
#: Temp dirs a build (or what it runs) makes with :func:`owned_tempdir`; a later build
#: removes those whose owner process is gone.
REAPED_PREFIXES = (
    "mltrack-livedocs-",
    "mltrack-server-",
    "mltrack-serve-",
    "mltrack-forkserver-",
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
        experiments: item id -> the MLflow experiment it runs in (for an item executed
            in this build, the one it ran in on the server).
    """

    results: dict[str, ItemResult] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    experiments: dict[str, str] = field(default_factory=dict)
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
                {
                    "id": r.id,
                    "duration_s": round(r.duration_s, 3),
                    "cpu_s": _rounded(r.cpu_s),
                    "cached": r.cached,
                }
                for r in sorted(self.results.values(), key=lambda r: -r.duration_s)[:5]
            ],
            "items": [
                {
                    "id": r.id,
                    "status": "ok" if r.ok else "failed",
                    "cached": r.cached,
                    "duration_s": round(r.duration_s, 3),
                    "cpu_s": _rounded(r.cpu_s),
                    "peak_rss_mb": _rounded(r.peak_rss_mb, 1),
                    "deps": sorted(r.deps),
                }
                for r in self.results.values()
            ],
        }


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "-", text).strip("-")[:60] or "item"


def _experiment_base(config: EngineConfig, item: Item) -> str:
    """The name an item's experiment gets when nothing else in the build has it."""
    if item.page_line is not None:  # a snippet: the page and the line of its block
        page = PurePosixPath(item.id.rsplit(":", 1)[0]).with_suffix("")
        name = page.parent.name if page.name == "index" and page.parent.name else page.name
        return f"{_slug(name)}-line-{item.page_line}"
    if item.kind == "cli" or item.path is None:
        return _slug(item.command or item.id)
    path = PurePosixPath(item.path)
    folders = (*config.examples_dirs, config.notebooks_dir)
    inside = next((path.relative_to(d) for d in folders if path.is_relative_to(d)), path)
    name = _slug(inside.with_suffix("").as_posix())
    if item.kind == "notebook" and any(
        (config.root / d / inside.with_suffix(".py")).is_file() for d in config.examples_dirs
    ):
        name += "-notebook"  # notebooks/quickstart.ipynb next to examples/quickstart.py
    return name


def experiment_names(config: EngineConfig, items: Iterable[Item]) -> dict[str, str]:
    """Item id -> the experiment the item runs in, named after it.

    ``examples/quickstart.py`` runs in ``quickstart``, ``notebooks/report.ipynb`` in
    ``report`` (``quickstart-notebook`` when an example has the notebook's name), a page's
    snippet in ``<page>-line-<N>`` and ``cli:ml runs`` in ``ml-runs``. Two items that would
    still get the same name are told apart by ``-2``, ``-3``... in the order of their ids.
    On a server shared with other builds, the worker claims the next free suffix too, so
    an item never sees another's runs.
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for item in sorted(items, key=lambda i: i.id):
        base = name = _experiment_base(config, item)
        suffix = 1
        while name in taken:
            suffix += 1
            name = f"{base}-{suffix}"
        taken.add(name)
        names[item.id] = name
    return names


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
        self._pool: WorkerPool | None = None
        self._forkserver: ForkServer | None = None  # runs the examples' `python -m mltrack`
        self._spare: ThrowawayServer | None = None  # the next build's server (spare_server)
        self._preloader: threading.Thread | None = None  # imports the MLflow client
        self._kept_pool: WorkerPool | None = None  # the next build's pool (spare_server)
        self._rss: dict[int, float] = {}

    # -- public -----------------------------------------------------------------------

    def run(
        self,
        plan: Plan,
        force: bool = False,
        server_url: str | None = None,
        cache_results: bool = True,
    ) -> BuildReport:
        """Bring every item of ``plan`` up to date and return the results.

        Args:
            plan: from :func:`mltrack.livedocs.plan.build_plan`.
            force: ignore cached results (like ``--no-cache``).
            server_url: use this running tracking server instead of starting one (the
                pytest plugin shares one per session).
            cache_results: store what runs in the cache the site is built from; ``False``
                for a server that holds more than this session made (a user's server:
                its state must not reach the pages).

        Raises:
            KeyboardInterrupt: Ctrl-C or SIGTERM; everything started was cleaned up first.
            ServerStartError: the throwaway server did not start.
        """
        start = time.monotonic()
        reap_tempdirs(REAPED_PREFIXES)  # left by builds that were killed outright
        report = BuildReport(jobs=self._jobs())
        report.experiments = experiment_names(self.config, plan.items.values())
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
            store = self.cache if cache_results else None
            self._execute(misses, report, server_url, store)
        if server_url is None and self.config.spare_server:
            self._keep_spare(plan)
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
                hashes[rel] = file_sha(path) if path.is_file() else None
            if hashes[rel] != digest:
                return False
        return True

    # -- execution --------------------------------------------------------------------

    def _jobs(self) -> int:
        return max(1, self.config.jobs or os.cpu_count() or 1)

    def _execute(
        self,
        misses: list[Item],
        report: BuildReport,
        server_url: str | None,
        store: ResultCache | None,
    ) -> None:
        self._cancel.clear()
        self._server_ready_at = None
        started = time.monotonic()
        marker = uuid.uuid4().hex
        tmp = owned_tempdir("mltrack-livedocs-")
        # If this process dies without cleaning up (SIGKILL), the sentinel does it.
        sentinel = start_sentinel(MARKER_ENV, marker, [tmp])
        server = None
        from mltrack.localserver import free_port, start_server

        need_server = server_url is None and any(item.needs_server for item in misses)
        spare = self._take_spare() if need_server else None
        port = spare.port if spare is not None else free_port()
        url = server_url or f"http://127.0.0.1:{port}"
        # Compiled once per build: every captured output goes through it.
        secrets = redactor_for(
            self.config.redact_env_patterns, self.config.redact_env, self.config.redact_patterns
        )
        total = len(misses)
        self.progress("start", {"total": total, "jobs": report.jobs, "cached": len(report.results)})
        report.server_started = need_server
        # Files first, CLI captures after them (they may read state examples created).
        phases = [[i for i in misses if i.kind != "cli"], [i for i in misses if i.kind == "cli"]]
        done = 0
        try:
            modules = pool_modules(self.config, phases[0])
            kept = self._take_kept_pool(len(phases[0]))
            if kept is not None:
                self._pool = kept
            elif self.config.warm_pool and modules and len(phases[0]) > 1:
                # A pool kept for the next save must outlive this build's straggler kill.
                pool_marker = uuid.uuid4().hex if self.config.spare_server else marker
                self._pool = WorkerPool(modules, self._base_environment(pool_marker))
            scripts = [
                self.config.root / i.path for i in phases[0] if i.kind == "script" and i.path
            ]
            if self.config.warm_pool and runs_mltrack(scripts):
                self._forkserver = start_forkserver(self._base_environment(marker))
            # `screenshot:` blocks: shot as their item finishes, while the server holds
            # what it ran.
            photographer = Photographer(report, url, store, secrets, self.config.root)
            with terminate_as_interrupt(), ThreadPoolExecutor(report.jobs) as pool:

                def submit(items: list[Item]) -> dict[Future[ItemResult], Item]:
                    args = (url, tmp, marker, secrets, report.experiments)
                    return {pool.submit(self._run_item, item, *args): item for item in items}

                try:
                    # Workers start importing right away; they wait for the server's health.
                    futures = submit(phases[0])
                    if need_server:
                        server = self._ready(spare) or start_server(root=tmp / "server", port=port)
                        sentinel.watch(server.process.pid)  # a fork: no marker variable
                        report.server_start_s = server.startup_s
                        self.progress("server", {"seconds": server.startup_s})
                    self._server_ready_at = time.monotonic()
                    if any(item.needs_server for item in misses):
                        # Only now: the server is a fork of this process, and a fork
                        # taken while a thread imports can deadlock on the import lock.
                        self._preloader = threading.Thread(target=preload_client, daemon=True)
                        self._preloader.start()
                    for phase_index in (0, 1):
                        if phase_index == 1:
                            futures = submit(phases[1])
                        pending = set(futures)
                        while pending:
                            finished, pending = wait(
                                pending, timeout=0.5, return_when=FIRST_COMPLETED
                            )
                            for future in finished:
                                result = future.result()
                                done += 1
                                self._record(futures[future], result, report, store)
                                photographer.add(futures[future], result)
                                self.progress(
                                    "item", {"result": result, "done": done, "total": total}
                                )
                    photographer.finish()
                except BaseException:
                    photographer.abort()
                    self._cancel.set()
                    self._kill_active()
                    pool.shutdown(wait=True, cancel_futures=True)
                    raise
        finally:
            self._cancel.set()
            self._kill_active()
            if self._pool is not None:
                if self.config.spare_server and self._kept_pool is None and self._pool.fresh():
                    self._kept_pool = self._pool  # for the next save (mkdocs serve)
                else:
                    self._pool.stop()
                self._pool = None
            if self._forkserver is not None:
                self._forkserver.stop()
                self._forkserver = None
            kill_marked(marker)
            if server is not None:
                server.stop()
            elif spare is not None:  # taken, but the build ended before it was used
                spare.stop()
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

    def _keep_spare(self, plan: Plan) -> None:
        """Start the next build's server and pool now, unless running or not needed."""
        if not any(item.needs_server for item in plan.items.values()):
            return
        if self._spare is None or self._spare.process.poll() is not None:
            from mltrack.localserver import start_server

            # The server is a fork of this process: not while another thread imports.
            if self._preloader is not None:
                self._preloader.join(timeout=30)
            self._spare = start_server(wait=False)
        if self.config.warm_pool and self._kept_pool is None:
            files = [i for i in plan.items.values() if i.kind in ("script", "notebook")]
            modules = pool_modules(self.config, files)
            if modules:  # imports in the background while the writer edits
                self._kept_pool = WorkerPool(modules, self._base_environment(uuid.uuid4().hex))

    def _take_kept_pool(self, items: int) -> WorkerPool | None:
        """The pool kept from an earlier build when it can serve this one: its code is
        unchanged, and it is done importing unless there are several items to wait for."""
        pool = self._kept_pool
        if pool is None:
            return None
        if not pool.fresh():
            pool.stop()
            self._kept_pool = None
            return None
        if items < 2 and not pool.ready:
            return None  # a fresh worker is quicker; the pool stays for the next save
        self._kept_pool = None
        return pool

    def _take_spare(self) -> ThrowawayServer | None:
        """The server started ahead of this build, if it is still running."""
        spare, self._spare = self._spare, None
        if spare is not None and spare.process.poll() is not None:
            spare.stop()
            return None
        return spare

    @staticmethod
    def _ready(spare: ThrowawayServer | None) -> ThrowawayServer | None:
        """The spare server once healthy (``None``, and it is stopped, if it never is)."""
        if spare is None:
            return None
        from mltrack.localserver import wait_healthy

        started = time.monotonic()
        try:
            wait_healthy(spare.url, proc=spare.process, timeout=30)
        except ServerStartError:
            spare.stop()
            return None
        spare.startup_s = time.monotonic() - started
        return spare

    def close(self) -> None:
        """Stop what this runner keeps between builds (the spare server and pool)."""
        spare, self._spare = self._spare, None
        if spare is not None:
            spare.stop()
        pool, self._kept_pool = self._kept_pool, None
        if pool is not None:
            pool.stop()

    def _record(
        self, item: Item, result: ItemResult, report: BuildReport, store: ResultCache | None
    ) -> None:
        """Note an executed item's result; keep it in ``store`` (None: this run's results
        are not for the site)."""
        report.results[item.id] = result
        report.executed.append(item.id)
        if result.ok:
            self._failed.pop(item.key, None)
            if store is not None:
                notebook = Path(result.notebook) if result.notebook else None
                store.store(result, notebook)
        else:
            self._failed[item.key] = result
            if store is not None:
                store.store_failure(result)

    def _kill_active(self) -> None:
        with self._lock:
            procs = list(self._active.values())
        for proc in procs:
            kill_group(proc, grace_s=1.0)

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
                # MLflow's INFO notices ("Experiment ... does not exist. Creating a new
                # experiment", "Inferring model signature...") are noise on a page too;
                # its warnings and errors still show. An example may set its own level.
                "MLFLOW_LOGGING_LEVEL": os.environ.get("MLFLOW_LOGGING_LEVEL", "WARNING"),
                # Progress bars (MLflow's artifact downloads, anything on tqdm) redraw a
                # terminal line: on a page they are dozens of lines of noise.
                "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
                "TQDM_DISABLE": "1",
                "PYTHONWARNINGS": "ignore",
                "PYTHONHASHSEED": "0",
                # Wide enough for `ml runs` and `ml models` tables in one line per row, narrow
                # enough for the page's code column (about 110 characters at 1280 px).
                "COLUMNS": "100",
                "TERM": "xterm-256color",
                "MPLBACKEND": "Agg",
                # MLflow's usage telemetry (on outside CI) would send what the examples do
                # to MLflow's servers: a docs build makes no outside requests.
                "MLFLOW_DISABLE_TELEMETRY": "true",
                # Who ran it (MLflow's `mlflow.user`, mltrack's `promoted_by`, a card's
                # "Trained by": getpass reads these first): a neutral name on the page,
                # not the build machine's account (root in a container).
                "LOGNAME": DOCS_USER,
                "USER": DOCS_USER,
            }
        )
        if self._forkserver is not None:
            env.update(self._forkserver.env)
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
        self,
        item: Item,
        url: str,
        tmp: Path,
        marker: str,
        secrets: Redactor,
        experiments: dict[str, str],
    ) -> ItemResult:
        if self._cancel.is_set():
            raise _Cancelled(item.id)
        workdir = tmp / "items" / f"{_slug(item.id)}-{uuid.uuid4().hex[:6]}"
        cwd = workdir / "cwd"
        out_dir = workdir / "out"
        cwd.mkdir(parents=True)
        out_dir.mkdir()
        # Named after the item; on a server other builds use too, the next free suffix.
        # A script or notebook's worker claims it once the server answers; a command
        # runs after the server started, so it is claimed here.
        experiment = experiments.get(item.id) or _slug(item.id)
        if item.kind == "cli" and item.needs_server:
            experiment = claim_experiment(url, experiment)
        env = self._environment(item, url, marker, experiment)
        # Temp files of the item live in the build's temp dir, so they go with it: MLflow
        # leaves the folders it downloads models into (`pyfunc.load_model`) for good. Short
        # path: a Unix socket under it (PostgreSQL's) has at most 107 characters.
        item_tmp = tmp / "tmp" / uuid.uuid4().hex[:6]
        item_tmp.mkdir(parents=True)
        env["TMPDIR"] = str(item_tmp)
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
                    dump_offset = request_stack_dump(proc, log_path)
            finally:
                kill_group(proc)
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
                # The address inside another URL of it too (``http://user:***@127.0.0.1:N``)
                **_public_address(url),
                str(cwd) + os.sep: "",
                str(cwd): ".",
                str(tmp): "<tmp>",
                str(self.config.root) + os.sep: "",
            },
        )
        experiment = claimed_experiment(out_dir, experiment)
        experiments[item.id] = experiment
        result = collect(
            item,
            self.config.root,
            proc.returncode,
            log_path,
            out_dir,
            dump_offset if timed_out else None,
            duration,
            url if self._server_ready_at is not None else None,
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
            rss = peak_rss_mb(proc.pid)
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
