from mltrack._forkserver import run_via_forkserver

# In a docs build, a fork of a process that already imported MLflow runs the command.
run_via_forkserver("mltrack")

from mltrack.cli import main  # noqa: E402

main()
