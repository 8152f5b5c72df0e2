"""Nothing outlives the build: real processes killed outright, real kernels and servers.

A build (``ml docs run``) is SIGKILLed while a notebook kernel runs a cell, a warm-pool
child runs an example, and an example serves a model with ``start_local``: every process
descended from the build must be gone within 3 s, and the next build removes its temp
dirs. A notebook worker stopped by SIGINT/SIGTERM removes its kernel's connection file
(it holds the kernel's HMAC key).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from mltrack._process import (
    owned_tempdir,
    owner_env,
    pid_start_time,
    processes_with_env,
    reap_tempdirs,
    start_sentinel,
)
from tests._helpers import descendants, notebook_json, running

TAG_ENV = "LIVEDOCS_LIFETIME_TAG"
GUARANTEE_S = 3.0

#: Started by the warm pool (it imports mlflow): saves a tiny model, serves it, waits.
SERVE_PY = """\
# livedocs: timeout=300
import os
import time

import mlflow.pyfunc

from mltrack.deploy.local import start_local


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.pyfunc.save_model("model", python_model=Echo())
server = start_local(os.path.abspath("model"), auth=False)
ready = os.environ["LIFETIME_READY"]
with open(os.path.join(ready, "serve.tmp"), "w") as fh:
    fh.write(str(server.process.pid))
os.replace(os.path.join(ready, "serve.tmp"), os.path.join(ready, "serve"))
time.sleep(300)
"""

POOLED_PY = """\
# livedocs: timeout=300
import os
import time

import mlflow

open(os.path.join(os.environ["LIFETIME_READY"], "pooled"), "w").write(str(os.getpid()))
time.sleep(300)
"""

KERNEL_CELL = (
    "import os, time\n"
    "open(os.path.join(os.environ['LIFETIME_READY'], 'kernel'), 'w').write(str(os.getpid()))\n"
    "time.sleep(300)\n"
)


def make_project(root: Path, examples: dict[str, str], notebooks: dict[str, str]) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "notebooks").mkdir()
    page = ""
    for name, source in examples.items():
        (root / "examples" / name).write_text(source)
        page += f"```livedocs\nfile: examples/{name}\n```\n\n"
    for name, source in notebooks.items():
        (root / "notebooks" / name).write_text(source)
    (root / "docs" / "index.md").write_text(page or "# empty\n")
    return root


def build_env(tmp: Path, ready: Path, tag: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    tmp.mkdir(exist_ok=True)
    ready.mkdir(exist_ok=True)
    env.update(
        {
            "NO_MKDOCS_2_WARNING": "1",
            "TMPDIR": str(tmp),
            TAG_ENV: tag,
            "LIFETIME_READY": str(ready),
            # Where a kernel's connection file would go if the engine did not move it.
            "JUPYTER_RUNTIME_DIR": str(tmp.parent / "jupyter-runtime-default"),
        }
    )
    return env


def docs_run(root: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mltrack", "docs", "run", "--root", str(root), "-j", "4"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running."""
    return {pid for pid in pids if running(pid)}


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("mltrack-"))


def wait_for(
    condition: Callable[[], bool], timeout: float, what: str, log: Path | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            detail = log.read_text(errors="replace")[-3000:] if log else ""
            raise AssertionError(f"{what} within {timeout:.0f} s\n{detail}")
        time.sleep(0.1)


@pytest.mark.slow
def test_sigkill_of_the_build_leaves_no_process_and_the_next_build_reaps_its_temp_dirs(
    tmp_path: Path,
) -> None:
    root = make_project(
        tmp_path / "proj",
        {"serve.py": SERVE_PY, "pooled.py": POOLED_PY},
        {"sleepy.ipynb": notebook_json(KERNEL_CELL)},
    )
    tmp, ready, tag = tmp_path / "tmp", tmp_path / "ready", uuid.uuid4().hex
    env = build_env(tmp, ready, tag)
    log = tmp_path / "build.log"
    build = docs_run(root, env, log)
    tracked: set[int] = set()
    try:
        wait_for(
            lambda: (
                all((ready / n).exists() for n in ("serve", "pooled", "kernel"))
                or build.poll() is not None
            ),
            240,
            "the kernel, the pooled example and the model server did not all start",
            log,
        )
        assert build.poll() is None, log.read_text()
        served, pooled, kernel = (
            int((ready / n).read_text()) for n in ("serve", "pooled", "kernel")
        )
        tracked = descendants(build.pid) | set(processes_with_env(TAG_ENV, tag))
        tracked.discard(build.pid)
        # The model server (grandchild of a pool child), the pooled example, the kernel,
        # the pool, the notebook worker and the MLflow server.
        assert {served, pooled, kernel} <= tracked
        assert len(tracked) >= 6, tracked
        assert leftovers(tmp), "the build made no temp dir"
        build.kill()
        build.wait()
        killed_at = time.monotonic()
        while alive(tracked) and time.monotonic() < killed_at + GUARANTEE_S:
            time.sleep(0.05)
        survivors = {pid: _cmdline(pid) for pid in alive(tracked)}
        assert survivors == {}, f"still running {GUARANTEE_S} s after the SIGKILL: {survivors}"
        late = {pid: _cmdline(pid) for pid in alive(set(processes_with_env(TAG_ENV, tag)))}
        assert late == {}, f"started by the build after the snapshot, still running: {late}"
    finally:
        if build.poll() is None:
            build.kill()
        for pid in alive(tracked):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    # The sentinel removed the build's dir, and with it the model server's log dir: an
    # example's TMPDIR is in the build's dir.
    deadline = time.monotonic() + 5
    while leftovers(tmp):
        assert time.monotonic() < deadline, f"the sentinel left the build's dirs: {leftovers(tmp)}"
        time.sleep(0.1)
    # Had the sentinel been killed too, the next build reaps what dead owners left: a
    # model server's dir made in this TMPDIR by a process that is gone now.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from mltrack._process import owned_tempdir as o; o('mltrack-serve-')",
        ],
        env=env,  # TMPDIR is tmp
        check=True,
    )
    assert [n for n in leftovers(tmp) if n.startswith("mltrack-serve-")], leftovers(tmp)
    next_root = make_project(tmp_path / "next", {"hello.py": "print('hello')\n"}, {})
    done = subprocess.run(
        [sys.executable, "-m", "mltrack", "docs", "run", "--root", str(next_root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert leftovers(tmp) == [], "the next build did not reap the dead owner's temp dir"
    assert not list((tmp_path / "jupyter-runtime-default").glob("kernel-*.json"))


def _cmdline(pid: int) -> str:
    """The command line, after the name the process gave itself (a fork keeps its parent's
    command line: ``mltrack-mlflow`` tells the throwaway server from the build)."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return f"[{name}] {argv[:200]}"
    except OSError:
        return "?"


def test_reaping_removes_dead_owners_dirs_only(tmp_path: Path) -> None:
    # A dead owner; a live pid that started at another time (the pid was reused); a live
    # owner (this process); another pid namespace's dir (a container sharing /tmp); an
    # unstamped dir and another program's dir.
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead = int(done.stdout)
    me, started = os.getpid(), pid_start_time(os.getpid())
    assert started is not None
    mine = owned_tempdir("mltrack-livedocs-")
    mine.rmdir()
    namespace = int(mine.name.split("-")[4])
    assert mine.name.startswith(f"mltrack-livedocs-{me}-{started}-{namespace}-")
    stale = tmp_path / f"mltrack-serve-{dead}-123-{namespace}-abcd1234"
    reused = tmp_path / f"mltrack-livedocs-{me}-{started + 1}-{namespace}-x"
    mine_here = tmp_path / mine.name
    foreign = tmp_path / f"mltrack-serve-{dead}-123-{namespace + 1}-y"
    unstamped = tmp_path / "mltrack-livedocs-abcdef"
    other = tmp_path / f"unrelated-{dead}-123-{namespace}-z"
    for path in (stale, reused, mine_here, foreign, unstamped, other):
        path.mkdir()
    (stale / "server.log").write_text("left by a killed build")
    removed = reap_tempdirs(["mltrack-livedocs-", "mltrack-serve-"], base=str(tmp_path))
    assert sorted(removed) == sorted([stale, reused])
    assert not stale.exists() and not reused.exists()
    assert all(p.is_dir() for p in (mine_here, foreign, unstamped, other))


def _run_notebook_worker(tmp_path: Path, source: str) -> tuple[subprocess.Popen[bytes], Path]:
    from mltrack.livedocs import runner

    (tmp_path / "nb").mkdir()
    nb = tmp_path / "nb" / "sleepy.ipynb"
    nb.write_text(notebook_json(source))
    out = tmp_path / "item" / "out"
    out.mkdir(parents=True)
    cwd = tmp_path / "item" / "cwd"
    cwd.mkdir()
    spec = {
        "kind": "notebook",
        "path": str(nb),
        "out_dir": str(out),
        "timeout_s": 120,
        "kernel_name": "python3",
        "server_url": None,
        "experiment": None,
        "root": str(tmp_path / "nb"),
    }
    (out / "spec.json").write_text(json.dumps(spec))
    # As the build starts it: the worker ends with its owner (this process), even a
    # SIGKILLed one.
    env = {**build_env(tmp_path / "tmp", tmp_path / "ready", uuid.uuid4().hex), **owner_env()}
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [sys.executable, runner.WORKER, str(out / "spec.json")],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc, tmp_path / "item"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_notebook_removes_the_kernel_and_its_connection_file(
    tmp_path: Path, sig: signal.Signals
) -> None:
    proc, item = _run_notebook_worker(tmp_path, KERNEL_CELL)
    ready = tmp_path / "ready"
    try:
        wait_for(
            lambda: (ready / "kernel").exists() or proc.poll() is not None,
            120,
            "the kernel did not start",
            tmp_path / "worker.log",
        )
        assert proc.poll() is None, (tmp_path / "worker.log").read_text()
        kernel = int((ready / "kernel").read_text())
        files = list(item.rglob("kernel-*.json"))
        assert len(files) == 1, "the connection file is not in the item's temp dir"
        assert json.loads(files[0].read_text())["key"]  # what must not be left around
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert alive({kernel}) == set(), "the kernel outlived its worker"
        assert not files[0].exists(), "the connection file (HMAC key) was left behind"
        assert not list((tmp_path / "jupyter-runtime-default").glob("kernel-*.json"))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_sigkill_of_ml_server_ends_its_workers(tmp_path: Path) -> None:
    from mltrack.localserver import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    env["TMPDIR"] = str(tmp_path)
    log = tmp_path / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mltrack", "server", "--port", str(free_port())]
            + ["--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    tracked: set[int] = set()
    try:
        wait_for(
            lambda: b"clients connect with" in log.read_bytes() or proc.poll() is not None,
            120,
            "ml server did not start",
            log,
        )
        assert proc.poll() is None, log.read_text()
        tracked = descendants(proc.pid)
        assert len(tracked) >= 3, tracked  # the keeper, uvicorn's supervisor, its workers
        proc.kill()
        proc.wait()
        killed_at = time.monotonic()
        while alive(tracked) and time.monotonic() < killed_at + GUARANTEE_S:
            time.sleep(0.05)
        survivors = {pid: _cmdline(pid) for pid in alive(tracked)}
        assert survivors == {}, f"still running {GUARANTEE_S} s after the SIGKILL: {survivors}"
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in alive(tracked):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def test_sentinel_kills_the_watched_children_of_an_owner_gone_and_never_a_reused_pid(
    tmp_path: Path,
) -> None:
    # Two children without the marker variable, in sessions of their own (as the build's
    # forked MLflow server): one watched, one named with a start time it does not have
    # (its pid, reused since by another process), and one the sentinel never heard of.
    def sleeper() -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sleep", "300"], start_new_session=True)

    watched, reused, unknown = sleeper(), sleeper(), sleeper()
    try:
        sentinel = start_sentinel(TAG_ENV, uuid.uuid4().hex, [])
        sentinel.watch(watched.pid)
        assert sentinel.proc.stdin is not None
        sentinel.proc.stdin.write(f"pid {reused.pid} 1\n".encode())
        sentinel.proc.stdin.close()  # the owner's end closes without a goodbye: it died
        sentinel.proc.wait(timeout=30)
        assert watched.wait(timeout=10) == -signal.SIGTERM
        assert reused.poll() is None and unknown.poll() is None
    finally:
        for proc in (watched, reused, unknown):
            proc.kill()
            proc.wait()
