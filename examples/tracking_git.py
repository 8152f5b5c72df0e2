"""Git integration: each run records commit, branch, dirty flag and remote.

The example makes a throwaway repository so it shows the same thing everywhere. Note the
remote: the credentials in its URL never reach MLflow.
"""

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

with mltrack.run("git-demo", log_git=True) as run:
    pass

# mltrack looks for git from the project root; show what it records for demo-repo.
from mltrack.gitinfo import git_info  # noqa: E402

info = git_info(repo)
assert info is not None
for key, value in sorted(info.as_tags().items()):
    shown = value[:12] if key.endswith("commit") else value
    print(f"{key:28} {shown}")

# --- checks ---
tags = info.as_tags()
assert tags["mlflow.source.git.branch"] == "feature/better-features"
assert tags["mltrack.git.dirty"] == "true"
assert tags["mlflow.source.git.repoURL"] == "https://github.com/acme/churn.git", tags
stored = mltrack.get_run(run.id)
assert stored.status == "FINISHED"
assert not any("ghp_secret_token" in value for value in stored.tags.values()), stored.tags
