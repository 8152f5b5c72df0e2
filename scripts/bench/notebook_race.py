"""Race N notebooks: mkdocs-jupyter ``execute: true`` against our engine (issue 22).

Generates N small scikit-learn + MLflow notebooks (the anchor workload of
``../shared/bench/anchor_notebooks.py``, written anew here) and builds them twice in the
same run, side by side:

* ``anchor``: an ``mlflow server`` (sqlite store) started for it, its start time counted,
  then ``mkdocs build`` with mkdocs-jupyter ``execute: true`` and ``MLFLOW_TRACKING_URI``
  pointing at it;
* ``ours``: ``mkdocs build --strict`` of a livedocs site (livedocs executes, starting its
  own throwaway server, mkdocs-jupyter renders with ``execute: false``).

Each side is built cold (no cache, server started) and warm (again, right after); ours
also cold with the warm pool off (``ours_plain``: a plain kernel per notebook, the
engine before warm kernels), the baseline of ``warm_kernels_speedup``.
``NOTEBOOK_RACE_N`` picks the sizes (default ``10``; ``10,40`` for the issue's second
point). Goals (issue 22): cold >= 4x faster at N=10 and N=40, warm ours/anchor <= 1.0,
our cold time grows no faster than N (``cold_growth``: T(N) / T(10) / (N / 10) <= 1.0).

Prints one JSON object as the last line of stdout (../shared/BENCHMARKS.md).
"""

from __future__ import annotations

import _common  # noqa: F401  (first: takes this folder off sys.path; temp root)

# isort: split

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mltrack._process import keeper_command, kill_group, owned_tempdir

CODE = """\
import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state={i})
mlflow.set_experiment("race-{i}")
with mlflow.start_run() as run:
    model = Ridge(alpha={alpha}).fit(X_train, y_train)
    mlflow.log_param("alpha", {alpha})
    mlflow.log_metric("r2", model.score(X_test, y_test))
print(run.info.run_name, round(model.score(X_test, y_test), 4))
"""

ANCHOR_YML = """\
site_name: anchor
plugins:
  - mkdocs-jupyter:
      execute: true
"""

OURS_YML = """\
site_name: ours
plugins:
  - livedocs:
      reference: false
  - mkdocs-jupyter:
      include: ["*.ipynb"]
      execute: false
"""


def notebook(i: int) -> dict[str, object]:
    """One generated notebook: a title and one training cell logging to MLflow."""
    source = CODE.format(i=i, alpha=round(0.1 * (i + 1), 2))
    return {
        "cells": [
            {"cell_type": "markdown", "id": f"t{i}", "metadata": {}, "source": [f"# Race {i}"]},
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": source.splitlines(True),
            },
        ],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def make_sites(base: Path, n: int) -> tuple[Path, Path]:
    """The anchor site (notebooks under docs/) and ours (notebooks under notebooks/)."""
    anchor, ours = base / "anchor", base / "ours"
    (anchor / "docs").mkdir(parents=True)
    (ours / "docs").mkdir(parents=True)
    (ours / "notebooks").mkdir()
    (anchor / "mkdocs.yml").write_text(ANCHOR_YML)
    (ours / "mkdocs.yml").write_text(OURS_YML)
    for site in (anchor, ours):
        (site / "docs" / "index.md").write_text(f"# Notebook race\n\n{n} notebooks.\n")
    for i in range(n):
        text = json.dumps(notebook(i), indent=1)
        (anchor / "docs" / f"race_{i:02d}.ipynb").write_text(text)
        (ours / "notebooks" / f"race_{i:02d}.ipynb").write_text(text)
    return anchor, ours


def clean_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLTRACK_", "MLFLOW_"))}
    env.update({"NO_MKDOCS_2_WARNING": "1", "TMPDIR": str(tmp)})
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> None:
    """Run ``cmd`` in a process group that ends with this script, even when it is killed."""
    proc = subprocess.Popen(
        keeper_command(cmd),
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=900)
    finally:
        kill_group(proc, grace_s=1)  # whatever the command left in its group
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} in {cwd} failed:\n{err.decode()[-3000:]}")


def mkdocs(site: Path, env: dict[str, str], *args: str) -> float:
    start = time.monotonic()
    run([sys.executable, "-m", "mkdocs", "build", *args], site, env)
    return time.monotonic() - start


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_mlflow(store: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str, float]:
    """``mlflow server`` on a free port; returns (process, url, seconds to healthy)."""
    store.mkdir(parents=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mlflow = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or "mlflow"
    start = time.monotonic()
    proc = subprocess.Popen(
        keeper_command(
            [
                mlflow,
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--backend-store-uri",
                f"sqlite:///{store / 'mlflow.db'}",
                "--default-artifact-root",
                str(store / "artifacts"),
            ]
        ),
        cwd=store,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = start + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlflow server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                if resp.status == 200:
                    return proc, url, time.monotonic() - start
        except OSError:
            time.sleep(0.1)
    kill_group(proc, grace_s=1)
    raise SystemExit("mlflow server did not answer within 120 s")


def race(base: Path, n: int) -> dict[str, float]:
    """Build the sites cold then warm; seconds of each.

    ``ours_plain`` is our engine with the warm pool off (``MLTRACK_DOCS__WARM_POOL=false``):
    every notebook starts a plain kernel, as before issue 22.
    """
    tmp = base / f"n{n}"
    tmp.mkdir()
    anchor, ours = make_sites(tmp, n)
    plain = tmp / "ours_plain"
    shutil.copytree(ours, plain)
    env = clean_env(tmp)
    times: dict[str, float] = {}
    start = time.monotonic()
    server, url, times["anchor_server_start_s"] = start_mlflow(tmp / "mlflow", env)
    try:
        anchor_env = {**env, "MLFLOW_TRACKING_URI": url}
        mkdocs(anchor, anchor_env)
        times["anchor_cold_s"] = time.monotonic() - start
        times["anchor_warm_s"] = mkdocs(anchor, anchor_env)
    finally:
        kill_group(server, grace_s=2)
    times["ours_plain_cold_s"] = mkdocs(
        plain, {**env, "MLTRACK_DOCS__WARM_POOL": "false"}, "--strict"
    )
    times["ours_cold_s"] = mkdocs(ours, env, "--strict")
    times["ours_warm_s"] = mkdocs(ours, env, "--strict")
    build = json.loads((ours / ".cache/livedocs/last-build.json").read_text())
    if build["cached"] != n:
        raise SystemExit(f"warm build executed {build['executed']} notebook(s), expected none")
    return {k: round(v, 2) for k, v in times.items()}


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")  # so the clean-up below runs


def main() -> None:
    sizes = [int(x) for x in os.environ.get("NOTEBOOK_RACE_N", "10").split(",") if x.strip()]
    signal.signal(signal.SIGTERM, _interrupt)
    cores = os.cpu_count() or 1
    base = owned_tempdir("mltrack-bench-race-")
    raw: dict[str, object] = {"cores": cores}
    results = []
    try:
        for n in sizes:
            times = race(base, n)
            raw[f"n{n}"] = times
            print(f"N={n}: {json.dumps(times)}", file=sys.stderr, flush=True)
            results.append(
                {
                    "name": f"cold_speedup_n{n}",
                    "value": round(times["anchor_cold_s"] / times["ours_cold_s"], 2),
                    "unit": "x",
                    "goal": ">= 4",
                }
            )
            results.append(
                {
                    "name": f"warm_kernels_speedup_n{n}",
                    "value": round(times["ours_plain_cold_s"] / times["ours_cold_s"], 2),
                    "unit": "x",
                    "goal": ">= 1",
                }
            )
            results.append(
                {
                    "name": f"warm_ratio_n{n}",
                    "value": round(times["ours_warm_s"] / times["anchor_warm_s"], 2),
                    "unit": "x",
                    "goal": "<= 1.0",
                }
            )
        if 10 in sizes and any(n > 10 for n in sizes):
            big = max(sizes)
            small, large = raw["n10"], raw[f"n{big}"]
            assert isinstance(small, dict) and isinstance(large, dict)
            # 1.0: the cold time grows in proportion to N (fixed costs make it less).
            results.append(
                {
                    "name": f"cold_growth_n10_to_n{big}",
                    "value": round(large["ours_cold_s"] / small["ours_cold_s"] / (big / 10), 2),
                    "unit": "x",
                    "goal": "<= 1.0",
                }
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(
        json.dumps(
            {
                "bench": "notebook_race",
                "machine": {"cores": cores, "python": platform.python_version()},
                "results": results,
                "raw": raw,
            }
        )
    )


if __name__ == "__main__":
    main()
