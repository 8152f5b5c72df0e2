"""Team setup: start `ml server` with basic auth, then verify it with `ml server --check`.

A one-person (sqlite) server with MLflow's basic-auth app, started exactly as you would in
a terminal. The admin password comes from the environment and never appears in output.
Runs standalone: ``uv run python examples/team_server_sqlite.py``.
"""
# livedocs: timeout=300

import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

workdir = tempfile.mkdtemp(prefix="team-server-")
admin_password = secrets.token_urlsafe(16)  # in real life: from your secret manager
env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING_")}
env |= {"MLFLOW_AUTH_ADMIN_PASSWORD": admin_password, "NO_COLOR": "1", "COLUMNS": "100"}

# 1. Start the server (foreground process; here in the background of this script). One
#    worker is plenty for one person (the default on sqlite is two); port 0 picks a free one.
command = ["server", "--auth", "--port", "0", "--workers", "1"]
print("$ ml", shlex.join(command))
server = subprocess.Popen(
    [sys.executable, "-m", "mltrack", *command],
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

    # 2. A team member checks the server with their credentials.
    def check(password: str) -> subprocess.CompletedProcess:
        creds = {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": password}
        return subprocess.run(
            [sys.executable, "-m", "mltrack", "server", "--check", url],
            env=env | creds,
            capture_output=True,
            text=True,
        )

    good = check(admin_password)
    print(f"$ ml server --check {url}    # exit {good.returncode}\n{good.stdout}")
    bad = check("not-the-password")
    print(f"$ ml server --check {url}    # wrong password: exit {bad.returncode}")
    print(bad.stderr)
    assert good.returncode == 0 and bad.returncode == 2
finally:
    server.send_signal(signal.SIGINT)  # what Ctrl-C does: the server and its workers stop
    server.wait(timeout=60)
    shutil.rmtree(workdir, ignore_errors=True)

# --- checks ---
assert good.returncode == 0 and bad.returncode == 2, (good.returncode, bad.returncode)
assert admin_password not in "".join(banner) + good.stdout + good.stderr + bad.stderr
assert server.returncode is not None, "Ctrl-C stopped the server"
assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
