"""The tracking API: `@mltrack.track`, `mltrack.run()`, and reading runs back.

A decorated function becomes a run per call (arguments as params, the returned dict as
metrics); a `with mltrack.run()` block tracks any code; `get_run` and `get_last_run`
read runs back as plain Python values. `flatten_params` is how nested config becomes
`a.b` params; `git_info` is the git state a run records, its remote passed through
`strip_credentials` so that no token reaches the tracking server.
"""

import subprocess
import tempfile
from pathlib import Path

import sklearn  # noqa: F401 - a framework this script uses: runs autolog it

import mltrack
from mltrack.frameworks import active_autolog, detect_frameworks
from mltrack.gitinfo import git_info, strip_credentials
from mltrack.tracking import current_run, flatten_params

print("frameworks imported:", detect_frameworks())


@mltrack.track(experiment="api-tracking")
def train(lr: float = 0.1, epochs: int = 3) -> dict[str, float]:
    for epoch in range(epochs):
        mltrack.log_metric("loss", round(1 / (epoch + 1 + lr), 4), step=epoch)
    return {"accuracy": round(0.9 + lr / 10, 4)}


print("returned:", train(lr=0.2))
decorated = mltrack.get_last_run("api-tracking")
print("decorated run:", decorated.name, decorated.status, decorated.params, decorated.metrics)

with mltrack.run("manual", experiment="api-tracking", params={"batch_size": 32}) as run:
    run.log_metrics({"accuracy": 0.93})
    run.set_tags({"stage": "demo"})
    print("inside the block, current_run() is this run:", current_run().id == run.id)
    autologging = active_autolog()  # sklearn, and whatever else is imported by now
    print("scikit-learn autologging on in the run:", "sklearn" in autologging)

info = mltrack.get_run(run.id)  # a RunInfo: plain values, no MLflow objects
print("block run:", info.name, info.status, info.params, info.metrics, info.tags["stage"])

config = {"optimizer": {"name": "adam", "lr": 0.001}, "epochs": 5}
print("flattened params:", flatten_params(config))
who = ["-c", "user.name=ci", "-c", "user.email=ci@example.com"]
with tempfile.TemporaryDirectory() as repo:  # a fresh repository, a token in its remote
    for args in (
        ["init", "-q", "-b", "main"],
        ["remote", "add", "origin", "https://bot:s3cret@github.com/acme/churn.git"],
        [*who, "commit", "-q", "--allow-empty", "-m", "first"],
    ):
        subprocess.run(["git", "-C", repo, *args], check=True)
    git = git_info(Path(repo))
print("git:", git.branch, "dirty" if git.dirty else "clean", git.remote)
print("stripped:", strip_credentials("https://bot:s3cret@github.com/acme/churn.git"))

# --- checks ---
assert flatten_params(config) == {"optimizer.name": "adam", "optimizer.lr": 0.001, "epochs": 5}
assert git.remote == "https://github.com/acme/churn.git" and "s3cret" not in str(git), git
assert strip_credentials("https://bot:tok@github.com/a/b") == "https://github.com/a/b"
assert "sklearn" in autologging, "a run autologs the frameworks the script imported"
assert isinstance(info, mltrack.RunInfo), type(info)
assert decorated.params == {"lr": "0.2", "epochs": "3"}, decorated.params
assert decorated.metrics["accuracy"] == 0.92 and decorated.status == "FINISHED", decorated
assert info.params == {"batch_size": "32"} and info.metrics == {"accuracy": 0.93}, info
assert current_run() is None, "the block's run is closed after the with statement"
assert mltrack.get_last_run("api-tracking").id == info.id, "the block run is the latest"
