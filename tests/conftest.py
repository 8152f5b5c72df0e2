"""Shared fixtures: one real MLflow server per test session, on 127.0.0.1.

Every process the session starts (servers, CLI calls, docs workers, Chromium) inherits a
session marker in its environment; when the session ends, any of them still alive is an
orphan: it is listed, killed, and the session fails. xdist workers carry their
controller's marker, so the controller's check covers what they started.

Under xdist (``make test`` runs ``-n N``) the tests of a file with a module- or class-
scoped fixture (a served model, a built site, a browser) run on one worker, which sets
that fixture up once; tests marked ``slow`` are handed out first, so that the longest
ones do not start last.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import os
import re
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mltrack.livedocs.runner import processes_with_env
from mltrack.localserver import ThrowawayServer, start_server
from tests._helpers import descendants, running

REPO_ROOT = Path(__file__).resolve().parent.parent
# Not MLTRACK_*: tests that strip mltrack's variables from a child's environment keep it.
SESSION_MARKER = "_MLTRACK_TEST_SESSION"
os.environ[SESSION_MARKER] = uuid.uuid4().hex
#: When this session started (seconds since the epoch): what is older is a past session's.
SESSION_STARTED = "_MLTRACK_TEST_SESSION_STARTED"
os.environ[SESSION_STARTED] = repr(time.time())


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    """xdist controller: hand each worker this session's marker (see pytest_configure)."""
    for key in (SESSION_MARKER, SESSION_STARTED):
        node.workerinput[key] = os.environ[key]  # type: ignore[attr-defined]


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput and SESSION_MARKER in workerinput:
        # A worker is part of its controller's session, not a session of its own (a pytest
        # started by a test is: it keeps the fresh marker set on import).
        for key in (SESSION_MARKER, SESSION_STARTED):
            os.environ[key] = workerinput[key]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):
        # The scheduler hands out shared-fixture files (largest first), then single tests
        # in this order: the long ones first, so that none of them starts last.
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)


_SHARED_FIXTURE = re.compile(r"""scope\s*=\s*["'](?:class|module|package)["']""")


@functools.cache
def _shares_fixtures(file: Path) -> bool:
    """Whether a test file, or a conftest.py above it (this one aside), defines a fixture
    shared beyond one test (class, module or package scope): its tests then belong on one
    worker."""
    candidates = [file] + [d / "conftest.py" for d in file.parents if d != Path(__file__).parent]
    return any(c.is_file() and _SHARED_FIXTURE.search(c.read_text()) for c in candidates)


#: Session fixtures too costly to set up on every worker, in the order they are looked
#: for: the tests using the PostgreSQL team server share one worker, those using only the
#: PostgreSQL cluster (with MLflow's schema) another.
ONE_WORKER_FIXTURES = ("pg_team", "postgres")


@functools.cache
def _one_worker_tests(file: Path) -> dict[str, str]:
    """Test functions of ``file`` that use one of :data:`ONE_WORKER_FIXTURES`, directly or
    through a fixture of the same file: name -> that fixture."""
    if not file.is_file():
        return {}
    functions = [
        node
        for node in ast.walk(ast.parse(file.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    uses = {f.name: {a.arg for a in f.args.args} for f in functions}
    found: dict[str, str] = {}
    for fixture in ONE_WORKER_FIXTURES:
        needs = {fixture}
        while True:  # fixtures of the file that request it, transitively
            more = {n for n, args in uses.items() if not n.startswith("test") and args & needs}
            if more <= needs:
                break
            needs |= more
        for name, args in uses.items():
            if name.startswith("test") and args & needs:
                found.setdefault(name, fixture)
    return found


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``-n N`` (``--dist load``): single tests spread over the workers as usual, but the
    tests of a file with a shared fixture (a served model, a built site, a browser) go to
    one worker together, which sets that fixture up once instead of once per worker; so
    do the tests on the shared PostgreSQL (:data:`ONE_WORKER_FIXTURES`).

    (``--dist loadgroup`` with ``xdist_group`` marks would say this per test, but it does
    not group on pytest 9.2: pytest-xdist issue 1386.)
    """
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    root = config.rootpath

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, name = nodeid.partition("::")
            fixture = _one_worker_tests(root / path).get(name.rsplit("::", 1)[-1].split("[")[0])
            if fixture is not None:
                return f"fixture:{fixture}"
            return path if _shares_fixtures(root / path) else nodeid

    return SharedFixtureScheduling(config, log)


def _orphans(grace_s: float) -> list[int]:
    deadline = time.monotonic() + grace_s
    while True:
        pids = processes_with_env(SESSION_MARKER, os.environ[SESSION_MARKER])
        pids = sorted(set(pids) | {p for p in descendants(os.getpid()) if running(p)})
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.5)


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


@pytest.hookimpl(trylast=True)  # after plugins that stop their own servers
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a process it started outlived it (and kill that process)."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks once for all of them
    _reap_scratch_dirs()  # a worker killed outright left its dir
    # Servers get this long to finish stopping after their fixtures' teardown.
    orphans = _orphans(grace_s=float(os.environ.get("_MLTRACK_TEST_ORPHAN_GRACE_S", "15")))
    if not orphans:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [f"  pid {pid}: {_command_line(pid)}" for pid in orphans]
    message = "processes started by the tests outlived them (killed now):\n" + "\n".join(lines)
    if reporter is not None:
        reporter.write_line(message, red=True)
    for pid in orphans:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


#: Set (to anything) to run the tests' ``python -m mltrack`` subprocesses as forks of a
#: warm process (the fork server the docs build gives its examples) instead of plain new
#: interpreters. Off by default: in one CI run an ``ml server`` started through it
#: printed nothing and ended (cause not found); the plain start is what users run.
FORKED_CLI_ENV = "MLTRACK_TEST_FORKED_CLI"


#: A worker's scratch dir: ``mlt-XXXXXXXX`` (short: sockets live below it), its owner's
#: pid in a file inside. Not ``mltrack._process.owned_tempdir``/``reap_tempdirs``: their
#: owner stamp in the name is ~30 characters longer, too long for the sockets below.
SCRATCH_PREFIX = "mlt-"
_SCRATCH_OWNER = ".owner-pid"


def _reap_scratch_dirs() -> None:
    """Remove the scratch dirs of workers that are gone: one killed outright (by xdist,
    a timeout, SIGKILL) had no teardown. A live worker's dir, of this session or another
    one sharing /tmp, is left alone."""
    import shutil
    import tempfile

    for owner in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*/{_SCRATCH_OWNER}"):
        try:
            pid = int(owner.read_text())
        except (OSError, ValueError):
            continue
        if not running(pid):
            shutil.rmtree(owner.parent, ignore_errors=True)


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller, before any worker
        _reap_scratch_dirs()


@pytest.fixture(scope="session", autouse=True)
def tempfile_scratch() -> Iterator[Path]:
    """MLflow's ``pyfunc.load_model`` and ``get_model_info`` download into temp dirs they
    never remove. What the tests call in-process makes its temp files here, a dir of this
    worker removed at its end; subprocesses keep the system's TMPDIR. Its path is short:
    Unix sockets (at most 107 characters) are made in dirs under it."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX))
    (scratch / _SCRATCH_OWNER).write_text(str(os.getpid()))
    before, tempfile.tempdir = tempfile.tempdir, str(scratch)
    try:
        yield scratch
    finally:
        tempfile.tempdir = before
        shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def cli_forkserver() -> Iterator[None]:
    """With ``MLTRACK_TEST_FORKED_CLI=1``: the tests' ``python -m mltrack ...``
    subprocesses run as forks of a warm process, each still its own process with the
    test's arguments, environment, cwd, streams, signals and exit status, minus the
    seconds of ``import mlflow`` (about half of all CPU these subprocesses use)."""
    from mltrack._forkserver import FORKSERVER_ENV, start_forkserver

    server = start_forkserver() if os.environ.get(FORKED_CLI_ENV) else None
    if server is None:
        yield
        return
    os.environ.update(server.env)
    try:
        yield
    finally:
        os.environ.pop(FORKSERVER_ENV, None)
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server() -> Iterator[ThrowawayServer]:
    """A real MLflow tracking server (sqlite + proxied artifacts in a temp dir).

    Started once per session (per xdist worker); always stopped and removed.
    """
    server = start_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def tracking_uri(
    mlflow_server: ThrowawayServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[str]:
    """Point MLflow and mltrack at the session server, from a clean project directory.

    Each test gets its own working directory (so no `.mltrack.yml` leaks in) and a
    fresh experiment name via ``MLTRACK_EXPERIMENT``.
    """
    import mlflow

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.url)
    for var in [v for v in os.environ if v.startswith("MLTRACK_")]:
        monkeypatch.delenv(var, raising=False)
    mlflow.set_tracking_uri(mlflow_server.url)
    yield mlflow_server.url
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture()
def experiment(
    tracking_uri: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A unique experiment name for this test, set as the default for mltrack."""
    import uuid

    name = f"{request.node.name[:60]}-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("MLTRACK_EXPERIMENT", name)
    return name
