"""Team setup on PostgreSQL: the steps, run end to end against a real database.

What an admin does on the server machine, in order:

1. a PostgreSQL database for MLflow (here: a throwaway local cluster; in production your
   managed database, e.g. ``postgresql://mlflow:PASSWORD@db.internal:5432/mlflow``);
2. ``ml server --backend ... --artifacts ... --auth`` with the URI in
   ``MLFLOW_BACKEND_STORE_URI`` so the password is not on the command line;
3. ``ml server --check URL`` from a client, then ``mltrack`` as usual.

Needs the PostgreSQL server binaries (``apt-get install postgresql``). Runs standalone:
``uv run python examples/team_postgres.py``; the docs build runs it and checks the
steps below.
"""
# livedocs: timeout=400

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile

from mltrack.errors import ServerStartError
from mltrack.testing.postgres import find_pg_bin, temporary_postgres

try:
    find_pg_bin()
except ServerStartError as missing:
    # `make docs` on a machine without PostgreSQL still builds; CI installs it and runs this.
    print(f"skipped: {missing}")
    sys.exit(0)

workdir = tempfile.mkdtemp(prefix="team-pg-")
admin_password = secrets.token_urlsafe(16)

# 1. The database (a real PostgreSQL server, removed again at the end).
with temporary_postgres() as pg:
    print(f"database: {pg.uri}")

    # 2. The tracking server on it: proxied artifacts, basic auth, 2 workers.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
    env |= {
        "MLFLOW_BACKEND_STORE_URI": pg.uri,
        "MLFLOW_AUTH_ADMIN_PASSWORD": admin_password,
        "NO_COLOR": "1",
        "COLUMNS": "100",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mltrack",
            "server",
            "--auth",
            "--artifacts",
            "./artifacts",
            "--port",
            "0",
            "--workers",
            "2",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        banner = []
        for line in server.stdout:
            banner.append(line.replace(workdir, "<project>"))
            if "Ctrl-C stops the server" in line:
                break
        print("".join(banner))
        url = re.search(r"http://127\.0\.0\.1:\d+", "".join(banner)).group(0)

        # 3. A client: credentials in the environment, then mltrack as usual.
        client_env = env | {
            "MLFLOW_TRACKING_URI": url,
            "MLFLOW_TRACKING_USERNAME": "admin",
            "MLFLOW_TRACKING_PASSWORD": admin_password,
        }
        check = subprocess.run(
            [sys.executable, "-m", "mltrack", "server", "--check", url],
            env=client_env,
            capture_output=True,
            text=True,
        )
        print(check.stdout)
        train = (
            "import mltrack\n"
            "with mltrack.run('pg-demo', experiment='team-pg', log_git=False) as r:\n"
            "    for step in range(100):\n"
            "        mltrack.log_metric('loss', 1 / (step + 1))\n"
            "print('logged 100 values to run', r.id[:8])\n"
            "print('loss at the end:', mltrack.get_run(r.id).metrics['loss'])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", train],
            env=client_env,
            cwd=workdir,
            capture_output=True,
            text=True,
        )
        print(done.stdout.strip())
        assert check.returncode == 0 and done.returncode == 0, done.stderr[-1000:]
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=60)
        shutil.rmtree(workdir, ignore_errors=True)

# --- checks ---
assert "logged 100 values to run" in done.stdout and "loss at the end: 0.01" in done.stdout
assert check.returncode == 0, check.stdout
assert "mltrack team server http://127.0.0.1:" in "".join(banner), banner
assert "signed in as 'admin' (admin)" in check.stdout and "round trip" in check.stdout
assert server.returncode is not None, "the server stopped"
assert admin_password not in check.stdout + "".join(banner), "the password is never printed"
