"""``python -m mltrack.serve MODEL``: run the model server without the ``ml`` CLI.

Used by container images, benchmarks and tests; ``ml ship MODEL --local`` is the
friendly front end with progress output.
"""

from __future__ import annotations

import argparse
import signal
import sys

from mltrack._process import exit_with_parent_from_env
from mltrack.errors import MltrackError


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, build the app and run it under uvicorn until stopped."""
    parser = argparse.ArgumentParser(prog="python -m mltrack.serve", description=__doc__)
    parser.add_argument("model", help="model name, NAME@alias, models:/ URI or model directory")
    parser.add_argument("--host", default=None, help="interface (default: serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default: serve.port, 8080)")
    parser.add_argument("--no-auth", action="store_true", help="serve without a bearer token")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    # Started by start_local (an example, a test): never outlive that process.
    exit_with_parent_from_env()

    import uvicorn

    from mltrack.config import load_settings
    from mltrack.serve.app import create_app

    try:
        conf = load_settings().serve
        app = create_app(args.model, conf, auth=False if args.no_auth else None)
    except MltrackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it under the handler it
    # found: with Python's default one the process dies there and its atexit cleanup (the
    # model's download directory) never runs. Exit normally instead, with status 143.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    uvicorn.run(
        app,
        host=args.host or conf.host,
        port=args.port or conf.port,
        log_level=args.log_level,
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    from mltrack._forkserver import run_via_forkserver

    run_via_forkserver("mltrack.serve")  # a fork server runs it when there is one
    sys.exit(main())
