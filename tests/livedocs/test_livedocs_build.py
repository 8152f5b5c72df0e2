"""Integration tests: real `mkdocs build` runs in throwaway projects, real MLflow servers.

Each project is tiny; the slow parts are the server start (one per cold build) and
`import mlflow` in the workers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mltrack.livedocs.runner import processes_with_env
from mltrack.localserver import ThrowawayServer
from tests._helpers import PYTEST_IN_A_TEST, closed_port, files_containing, ml_in_process

pytestmark = pytest.mark.slow

SECRET = "sk-livedocs-" + uuid.uuid4().hex[:12]

MKDOCS_YML = """\
site_name: livedocs test
plugins:
  - livedocs:
      reference: false
  - mkdocs-jupyter:
      include: ["*.ipynb"]
      execute: false
markdown_extensions:
  - admonition
  - pymdownx.superfences
  - pymdownx.tabbed:
      alternate_style: true
"""

OK_PY = """\
import os

import matplotlib.pyplot as plt
import mlflow

with mlflow.start_run(run_name="demo-run"):
    mlflow.log_param("alpha", 0.5)
    mlflow.log_metric("score", 0.875)
print("\\x1b[32mgreen text\\x1b[0m")
print("key is", os.environ["LIVEDOCS_TEST_API_KEY"])
plt.plot([1, 2, 3], [3, 1, 2])
"""

BAD_PY = """\
def promote():
    aliases = {}
    return aliases["champion"]
promote()
"""

HANG_PY = """\
# livedocs: timeout=2
import time
print("before the hang", flush=True)
time.sleep(60)
"""

NOTEBOOK = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "c1",
            "metadata": {},
            "outputs": [],
            "source": ["print('answer', 6 * 7)"],
        }
    ],
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "nbformat": 4,
    "nbformat_minor": 5,
}


def directive(path: str) -> str:
    return f"```livedocs\nfile: {path}\n```\n\n"


def make_project(root: Path, examples: dict[str, str], page: str) -> Path:
    (root / "docs").mkdir(parents=True)
    (root / "examples").mkdir()
    (root / "mkdocs.yml").write_text(MKDOCS_YML)
    for name, source in examples.items():
        (root / "examples" / name).write_text(source)
    (root / "docs" / "index.md").write_text(page)
    return root


#: What a build's environment leaves out of the test's: mltrack's and MLflow's settings.
BUILD_ONLY = ("MLTRACK_", "MLFLOW_")


def build_env(tmp: Path, tag: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(BUILD_ONLY)}
    tmp.mkdir(exist_ok=True)
    env.update(
        {
            "NO_MKDOCS_2_WARNING": "1",
            "TMPDIR": str(tmp),
            "LIVEDOCS_TEST_TAG": tag,
            "LIVEDOCS_TEST_API_KEY": SECRET,
        }
    )
    return env


def mkdocs(
    root: Path, env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``mkdocs build ARGS`` in ``root``, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def telemetry(root: Path) -> dict:
    return json.loads((root / ".cache/livedocs/last-build.json").read_text())


def tagged_processes(tag: str) -> list[int]:
    return processes_with_env("LIVEDOCS_TEST_TAG", tag)


def leftovers(tmp: Path) -> list[str]:
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("mltrack-"))


def test_build_renders_output_caches_and_reexecutes_only_changes(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        {"ok.py": OK_PY, "second.py": "print('second example')\n", "bad.py": BAD_PY},
        "# Home\n\n"
        + directive("examples/ok.py")
        + directive("examples/second.py")
        + directive("examples/bad.py")
        + "```python livedocs\nprint('from a snippet', 6 * 7)\n```\n",
    )
    (root / "notebooks").mkdir()
    (root / "notebooks" / "tiny.ipynb").write_text(json.dumps(NOTEBOOK))
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    env = build_env(tmp, tag)

    # 1. cold, non-strict: outputs rendered, the failure shown in the page.
    cold = mkdocs(root, env)
    assert cold.returncode == 0, cold.stderr
    html = (root / "site/index.html").read_text()
    assert '<span class="ansi-fg-green">green text</span>' in html
    assert "demo-run" in html and "alpha=0.5" in html and "score=0.875" in html
    assert '<img src="data:image/png;base64,' in html
    assert 'class="tabbed-set' in html and ">Code</label>" in html and ">Output</label>" in html
    assert "docs/index.md:11 -&gt; examples/bad.py:3: KeyError: &#x27;champion&#x27;" in html
    assert "from a snippet 42" in html
    assert "answer 42" in (root / "site/notebooks/tiny/index.html").read_text()
    assert "executing 5 item(s)" in cold.stderr and "[5/5]" in cold.stderr
    first = telemetry(root)
    assert first["server_started"] is True and first["failed"] == 1
    # the secret was printed by the example, but never reaches the site or the cache
    assert "key is [redacted]" in html
    assert files_containing(root / "site", SECRET.encode()) == []
    assert files_containing(root / ".cache", SECRET.encode()) == []
    assert leftovers(tmp) == [] and tagged_processes(tag) == []

    # 2. warm: nothing runs, no server starts, the page still shows the output.
    (root / "docs/index.md").write_text(
        "# Home\n\n" + directive("examples/ok.py") + directive("examples/second.py")
    )
    (root / "examples/bad.py").unlink()
    started = time.monotonic()
    warm = mkdocs(root, env)
    warm_s = time.monotonic() - started
    assert warm.returncode == 0, warm.stderr
    second = telemetry(root)
    assert second["server_started"] is False and second["executed"] == 0
    assert all(item["cached"] for item in second["items"])
    assert "throwaway MLflow server" not in warm.stderr
    assert "demo-run" in (root / "site/index.html").read_text()
    assert warm_s < 60

    # 3. one example changed: only it runs again.
    (root / "examples/second.py").write_text("print('changed example')\n")
    changed = mkdocs(root, env, "--strict")
    assert changed.returncode == 0, changed.stderr
    third = telemetry(root)
    assert [i["id"] for i in third["items"] if not i["cached"]] == ["examples/second.py"]
    assert "changed example" in (root / "site/index.html").read_text()
    assert leftovers(tmp) == [] and tagged_processes(tag) == []


def test_strict_build_fails_with_location_timeout_and_unreferenced(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        {"bad.py": BAD_PY, "hang.py": HANG_PY, "orphan.py": "print('nobody embeds me')\n"},
        directive("examples/bad.py")
        + directive("examples/hang.py")
        + "```python livedocs\nx = 1\nraise ValueError(f'bad snippet {x}')\n```\n",
    )
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    started = time.monotonic()
    result = mkdocs(root, build_env(tmp, tag), "--strict")
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    err = result.stderr
    assert "docs/index.md:1 -> examples/bad.py:3: KeyError: 'champion'" in err
    assert 'File "examples/bad.py", line 4, in <module>' in err  # traceback tail
    assert '3 | return aliases["champion"]' in err  # the failing source line
    # an executable snippet points at the page line of the failing statement
    assert "docs/index.md:11: ValueError: bad snippet 1" in err
    assert "docs/index.md:5 -> examples/hang.py:4: TimeoutError: killed after 2 s" in err
    assert "examples/orphan.py: example is not embedded by any page" in err
    # The TimeoutError above is only reported when the parent killed the item 2 s after it
    # started; a loose bound on the whole build (server start included, busy machines).
    assert elapsed < 240
    assert not (root / "site/index.html").exists() or "FAILED" not in err
    assert leftovers(tmp) == [] and tagged_processes(tag) == []


def test_sigint_during_build_leaves_no_process_or_temp_dir(tmp_path: Path) -> None:
    # `import mlflow` routes the examples through the warm pool (forked workers).
    slow = "# livedocs: timeout=100\nimport time\nimport mlflow\nprint('working')\ntime.sleep(90)\n"
    root = make_project(
        tmp_path / "proj",
        {"slow.py": slow, "slow2.py": slow},
        directive("examples/slow.py") + directive("examples/slow2.py"),
    )
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    log = tmp_path / "build.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "build"],
            cwd=root,
            env=build_env(tmp, tag),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "server ready" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the build never started its server"
            time.sleep(0.2)
        time.sleep(1.0)  # the workers are now running the examples
        assert len(tagged_processes(tag)) >= 4  # mkdocs, server, pool, two workers
        assert leftovers(tmp) != []
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    deadline = time.monotonic() + 10
    while tagged_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tagged_processes(tag) == [], log.read_text()
    assert leftovers(tmp) == []


def test_serve_shows_error_keeps_running_and_reruns_only_the_changed_item(tmp_path: Path) -> None:
    import urllib.request

    from mltrack.localserver import free_port

    root = make_project(
        tmp_path / "proj",
        {"bad.py": BAD_PY, "fine.py": "print('fine output')\n"},
        directive("examples/bad.py") + directive("examples/fine.py"),
    )
    tmp, tag = tmp_path / "tmp", uuid.uuid4().hex
    port = free_port()
    log = tmp_path / "serve.log"

    def page() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return ""

    def wait_for(predicate, what: str, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while not predicate():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"{what}:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)

    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mkdocs", "serve", "-a", f"127.0.0.1:{port}"],
            cwd=root,
            env=build_env(tmp, tag),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "fine output" in page(), "the first build was not served")
        html = page()
        assert "examples/bad.py:3: KeyError: &#x27;champion&#x27;" in html
        assert 'class="admonition failure livedocs-error"' in html
        (root / "examples/bad.py").write_text("print('repaired output')\n")
        wait_for(lambda: "repaired output" in page(), "the fixed example was not re-run")
        assert "livedocs-error" not in page()
        assert log.read_text().count("executing 1 item(s)") == 1  # fine.py stayed cached
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 10
    while tagged_processes(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tagged_processes(tag) == [] and leftovers(tmp) == []


def test_ml_docs_snapshots_mask_volatile_values_and_report_drift(tmp_path: Path) -> None:
    root = make_project(
        tmp_path / "proj",
        {
            "report.py": "import uuid\nprint('run', uuid.uuid4().hex, 'took 1.25 s')\nprint('value 1')\n"
        },
        directive("examples/report.py"),
    )
    env = build_env(tmp_path / "tmp", uuid.uuid4().hex)
    env = {k: v for k, v in env.items() if os.environ.get(k) != v}

    def ml(*args: str) -> subprocess.CompletedProcess[str]:
        # In-process: the command's own work is the engine (workers, its server), which
        # runs as it does from a shell; a process of its own would add `import mlflow`.
        return ml_in_process("docs", *args, "--root", str(root), env=env, drop_env=BUILD_ONLY)

    written = ml("snapshot", "--update")
    assert written.returncode == 0, written.stderr
    snapshot = root / "docs/_snapshots/examples__report.py.txt"
    assert snapshot.read_text() == "run <id> took <duration>\nvalue 1\n"
    unchanged = ml("check", "--snapshots")  # cached: nothing runs, nothing drifts
    assert unchanged.returncode == 0, unchanged.stderr
    (root / "examples/report.py").write_text("print('value 2')\n")
    drifted = ml("check", "--snapshots")
    assert drifted.returncode == 1
    assert "-value 1" in drifted.stderr and "+value 2" in drifted.stderr
    assert "examples/report.py: output differs from its snapshot" in drifted.stderr


def _notebook(*cells: str) -> str:
    nb = json.loads(json.dumps(NOTEBOOK))
    nb["cells"] = [
        {**NOTEBOOK["cells"][0], "id": f"c{i}", "source": source}  # type: ignore[dict-item]
        for i, source in enumerate(cells, start=1)
    ]
    return json.dumps(nb)


def test_notebook_failure_names_the_cell_and_the_line_in_it(tmp_path: Path) -> None:
    root = make_project(tmp_path / "proj", {}, "")
    (root / "notebooks").mkdir()
    # The error is raised in a function of cell 1, called from line 3 of cell 2: the
    # location is where the notebook's own cell failed, the source line is shown.
    (root / "notebooks/promote.ipynb").write_text(
        _notebook(
            "def promote(aliases):\n    return aliases['champion']\n",
            "aliases = {'challenger': 2}\nprint('promoting')\nversion = promote(aliases)\n",
        )
    )
    (root / "docs/index.md").write_text("# Notebooks are pages of their own\n")
    env = build_env(tmp_path / "tmp", uuid.uuid4().hex)
    env = {k: v for k, v in env.items() if os.environ.get(k) != v}
    done = ml_in_process("docs", "check", "--root", str(root), env=env, drop_env=BUILD_ONLY)
    assert done.returncode == 1
    assert "error: notebooks/promote.ipynb:cell 2:3: KeyError: 'champion'" in done.stderr, (
        done.stderr
    )
    assert "3 | version = promote(aliases)" in done.stderr


#: Loads a project's config as `mkdocs build` does, counting nbconvert's exporter scans.
LOAD_CONFIG_PY = """\
import importlib.metadata as metadata, json, os, sys
real, scans = metadata.entry_points, []
def counted(**kw):
    scans.extend([1] if kw.get("group") == "nbconvert.exporters" else [])
    return real(**kw)
metadata.entry_points = counted
from mkdocs.config import load_config
config = load_config(sys.argv[1])
config.plugins.on_startup(command="build", dirty=False)
print(json.dumps({"scans": len(scans), "nbconvert": "nbconvert.nbconvertapp" in sys.modules,
                  "switch": os.environ.get("NBCONVERT_DISABLE_CONFIG_EXPORTERS")}))
"""


@pytest.mark.parametrize("preset", [None, "1"])
def test_nbconvert_imports_without_listing_its_exporters(
    tmp_path: Path, preset: str | None
) -> None:
    """mkdocs-jupyter's nbconvert import skips the 34-scan exporter list (half a second of
    every build); the switch is off again before anything runs, unless the user set it."""
    root = make_project(tmp_path / "proj", {}, "# Home\n")
    env = {k: v for k, v in os.environ.items() if k != "NBCONVERT_DISABLE_CONFIG_EXPORTERS"}
    if preset is not None:
        env["NBCONVERT_DISABLE_CONFIG_EXPORTERS"] = preset
    done = subprocess.run(
        [sys.executable, "-c", LOAD_CONFIG_PY, str(root / "mkdocs.yml")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.splitlines()[-1])
    # Two help texts list the exporter names: one scan each instead of 1 + 17 each.
    assert found == {"scans": 2, "nbconvert": True, "switch": preset}, found


#: BAD_PY logging a run before it fails, through MLflow's REST API: with `import mlflow`
#: each of the three sessions that run it would take 3 s longer.
BAD_LOGS_A_RUN_PY = BAD_PY.replace(
    "promote()\n",
    """\
import json, os, urllib.parse, urllib.request
api = os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/"
name = urllib.parse.quote(os.environ["MLFLOW_EXPERIMENT_NAME"])
with urllib.request.urlopen(f"{api}experiments/get-by-name?experiment_name={name}") as found:
    body = {"experiment_id": json.load(found)["experiment"]["experiment_id"], "run_name": "bad-run"}
headers = {"Content-Type": "application/json"}
urllib.request.urlopen(urllib.request.Request(api + "runs/create", json.dumps(body).encode(), headers))
promote()
""",
)


def test_pytest_plugin_runs_docs_items_as_tests_with_path_ids(
    tmp_path: Path, mlflow_server: ThrowawayServer
) -> None:
    from mlflow import MlflowClient

    from mltrack.livedocs.pytest_plugin import SERVER_ENV, check_server_url

    root = make_project(
        tmp_path / "proj",
        # Run in the project directory (imported as a test module), it leaves a file.
        {"fine.py": "open('ran-here.txt', 'w').close()\nprint('fine')\n", "bad.py": BAD_LOGS_A_RUN_PY},
        directive("examples/fine.py")
        + directive("examples/bad.py")
        + "```python livedocs\nprint('snippet', 2 + 2)\n```\n",
    )  # fmt: skip
    tag = uuid.uuid4().hex
    env = build_env(tmp_path / "tmp", tag)

    def pytest_run(
        *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # Most of a short session is pytest's own start: the unrelated plugins import in
        # 1 s, and rewriting their asserts (never cached under PYTHONDONTWRITEBYTECODE)
        # takes 2 s more, in each session and each xdist worker.
        return subprocess.run(
            # --livedocs: the plugin loads from its entry point
            [*PYTEST_IN_A_TEST, "--livedocs", "--assert=plain", "-rA", *args],
            cwd=root,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip

    # Nothing cached: the session starts its own throwaway server, and stops it.
    first = pytest_run("examples", "docs")
    assert first.returncode == 1, first.stdout
    assert "PASSED examples/fine.py::livedocs" in first.stdout
    assert "PASSED docs/index.md::line-9" in first.stdout
    assert "FAILED examples/bad.py::livedocs" in first.stdout
    assert "docs/index.md:5 -> examples/bad.py:3: KeyError: 'champion'" in first.stdout
    assert "livedocs: 3 items ran on 1 throwaway tracking server" in first.stdout, first.stdout
    assert leftovers(tmp_path / "tmp") == [] and tagged_processes(tag) == []
    # -k selects by path; the passing items are cached now, so no server is needed
    selected = pytest_run("-k", "fine", "examples", "docs")
    assert selected.returncode == 0, selected.stdout
    assert "1 passed, 2 deselected" in selected.stdout
    assert "livedocs: 1 item cached; no tracking server needed" in selected.stdout

    # The other sessions run on a server that is already up (the failing item is never
    # cached): no server start per session, nor per xdist worker.
    url = mlflow_server.url
    client = MlflowClient(url)

    def bad_experiments() -> set[str]:  # the session server is shared: "bad" may exist
        found = client.search_experiments(filter_string="name LIKE 'bad%'")
        return {e.name for e in found}

    before = bad_experiments()
    # -x stops at the first failing item, like any test
    stopped = pytest_run("-x", "--livedocs-server", url + "/", "examples", "docs")
    assert stopped.returncode == 1, stopped.stdout
    assert "stopping after 1 failures" in stopped.stdout and "1 failed" in stopped.stdout
    assert "2 passed" not in stopped.stdout
    assert f"livedocs: 1 item ran on the tracking server {url} (--livedocs-server)" in (
        stopped.stdout
    )
    # xdist: items spread over two workers; the failure reads the same. The server is
    # given by the variable this time.
    spread = pytest_run("-n", "2", "examples", "docs", extra_env={SERVER_ENV: url})
    assert spread.returncode == 1, spread.stdout
    assert "2 passed" in spread.stdout and "1 failed" in spread.stdout
    assert "docs/index.md:5 -> examples/bad.py:3: KeyError: 'champion'" in spread.stdout
    assert f"livedocs: 1 item ran on the tracking server {url} ({SERVER_ENV})" in spread.stdout
    # Each session's item claimed an experiment of its own on that server ("bad", then
    # the first free "bad-N"): one run in each, none in the other's.
    new = sorted(bad_experiments() - before, key=lambda name: (len(name), name))
    assert len(new) == 2 and all(re.fullmatch(r"bad(-\d+)?", name) for name in new), new
    assert new == ["bad", "bad-2"] or before, new
    for name in new:
        experiment = client.get_experiment_by_name(name)
        assert experiment is not None
        runs = client.search_runs([experiment.experiment_id])
        assert [r.info.run_name for r in runs] == ["bad-run"], (name, runs)
    assert tagged_processes(tag) == []
    # What ran on a given server is not cached for the site (that server may hold more
    # than the session made): the next session without it runs the item again.
    fine = root / "examples" / "fine.py"
    fine.write_text(fine.read_text() + "# saved again\n")
    given = pytest_run("-k", "fine", "--livedocs-server", url, "examples", "docs")
    assert f"livedocs: 1 item ran on the tracking server {url}" in given.stdout, given.stdout
    again = pytest_run("-k", "fine", "examples", "docs")
    assert "livedocs: 1 item ran on 1 throwaway tracking server" in again.stdout, again.stdout

    # A server that is not there, or not http(s): one usage line, no traceback.
    with closed_port() as port:
        nowhere = pytest_run("--livedocs-server", f"http://127.0.0.1:{port}", "examples")
    assert nowhere.returncode == 4, nowhere.stderr
    assert nowhere.stderr.strip() == (
        f"ERROR: --livedocs-server http://127.0.0.1:{port}: no tracking server answers on"
        " /health; start it (`mlflow server`, `ml server`) or leave it out to start a"
        " throwaway server"
    )
    assert nowhere.stdout == ""
    with pytest.raises(pytest.UsageError, match=f"^{SERVER_ENV} 'ftp://h' is not an http"):
        check_server_url("ftp://h", SERVER_ENV)
    with pytest.raises(pytest.UsageError, match="holds credentials") as denied:
        check_server_url("http://me:hunter2@127.0.0.1:5000")
    assert "hunter2" not in str(denied.value)

    # An example named on the command line runs once, through the engine only.
    named = pytest_run("examples/fine.py")
    assert named.returncode == 0 and "PASSED examples/fine.py::livedocs" in named.stdout
    assert "1 passed" in named.stdout, named.stdout
    assert not (root / "ran-here.txt").exists()
