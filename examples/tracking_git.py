"""Git integration: each run records commit, branch, dirty flag and remote.

The example makes a throwaway repository so it shows the same thing everywhere. Note the
remote: the credentials in its URL never reach MLflow.
"""

import os
import subprocess
from pathlib import Path

import mltrack

repo = Path("demo-repo")
repo.mkdir(exist_ok=True)


def git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


git("init", "-b", "feature/better-features")
git("config", "user.email", "dev@example.com")
git("config", "user.name", "Dev")
git("remote", "add", "origin", "https://dev:ghp_secret_token@github.com/acme/churn.git")
(repo / "train.py").write_text("print('training')\n")
git("add", "train.py")
git("commit", "-m", "first model")
(repo / "train.py").write_text("print('training v2')\n")  # uncommitted change: dirty

os.chdir(repo)  # a training script inside the repository: mltrack finds its git root
try:
    with mltrack.run("git-demo") as run:
        pass
    stored = mltrack.get_run(run.id)
finally:
    os.chdir("..")

git_tags = {key: value for key, value in stored.tags.items() if ".git." in key}
for key, value in sorted(git_tags.items()):
    shown = value[:12] if key.endswith("commit") else value
    print(f"{key:28} {shown}")

# --- checks ---
head = subprocess.run(
    ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
).stdout.strip()
assert git_tags["mlflow.source.git.commit"] == head, git_tags
assert git_tags["mlflow.source.git.branch"] == "feature/better-features", git_tags
assert git_tags["mltrack.git.dirty"] == "true", git_tags
assert git_tags["mlflow.source.git.repoURL"] == "https://github.com/acme/churn.git", git_tags
assert stored.status == "FINISHED"
assert not any("ghp_secret_token" in value for value in stored.tags.values()), stored.tags
