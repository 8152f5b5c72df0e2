"""`ml ship`, `ml try` and `ml ui`: serve, deploy, call a model, open the MLflow UI."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import typer

from mltrack.cli._app import app, console, err_console, exit_on_signal, status
from mltrack.errors import ConfigError, DeployError, MltrackError, ServerStartError

TARGET_HELP = "Deploy target: docker, modal, lambda or kubernetes (k8s, kserve)."


@app.command()
def ship(
    model: str = typer.Argument(
        ...,
        help="Model name (its champion, else its latest version), NAME@alias, NAME/3 or a models:/ URI.",
    ),
    local: bool = typer.Option(
        False, "--local", help="Serve on this machine now (blocks until Ctrl-C)."
    ),
    to: str | None = typer.Option(None, "--to", help=TARGET_HELP),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Write the artifacts, run no tool, start nothing."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Output directory (default ship/<model>-<target>)."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Interface for --local (default 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port for --local (default 8080)."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve without a bearer token."),
    gpu: str | None = typer.Option(
        None, "--gpu", help="GPU: Modal type (T4, A10G, A100...) or k8s count."
    ),
    image: str | None = typer.Option(
        None, "--image", help="Container image name (docker, kubernetes)."
    ),
    push: bool = typer.Option(False, "--push", help="Push the image after building (docker)."),
    memory: int | None = typer.Option(
        None, "--memory", help="Memory in MB (lambda, modal, kubernetes)."
    ),
    timeout: int | None = typer.Option(
        None, "--timeout", help="Request timeout in seconds (lambda, modal)."
    ),
    cpu: float | None = typer.Option(
        None, "--cpu", help="CPU cores requested (kubernetes, modal)."
    ),
    min_replicas: int | None = typer.Option(
        None, "--min-replicas", help="Autoscaling lower bound."
    ),
    max_replicas: int | None = typer.Option(
        None, "--max-replicas", help="Autoscaling upper bound."
    ),
    kserve: bool = typer.Option(False, "--kserve", help="Kubernetes: a KServe InferenceService."),
) -> None:
    """Serve a model locally (--local) or build and deploy it (--to TARGET)."""
    if local == bool(to):
        raise ConfigError(
            "choose one: --local to serve here, or --to docker|modal|lambda|kubernetes"
        )
    target = "local" if local else str(to)
    if target == "kserve":
        target, kserve = "kubernetes", True
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "auth": False if no_auth else None,
        "gpu": gpu,
        "image": image,
        "push": push or None,
        "memory_mb": memory,
        "timeout_s": timeout,
        "cpu": cpu,
        "min_replicas": min_replicas,
        "max_replicas": max_replicas,
        "kserve": kserve or None,
    }
    if target == "local":
        _ship_local(model, dry_run, options)
        return
    from mltrack.deploy import ship as do_ship

    with status(f"Building the {target} artifacts for {model}..."):
        result = do_ship(model, to=target, dry_run=dry_run, output_dir=output, **options)
    # The folder as the user named it (relative when under the cwd), never wrapped: a
    # path split over two lines cannot be copied.
    from mltrack.config import shown_path  # not at import: `ml --help` needs no pydantic

    shown = shown_path(result.output_dir) if result.output_dir else ""
    console.print(f"[bold green]{target}[/]: {result.model.uri} -> {shown}", soft_wrap=True)
    for name in result.files:
        console.print(f"  wrote {name}")
    label = "ran" if result.deployed else ("run" if not dry_run else "to deploy, run")
    for command in result.commands:
        console.print(f"  {label}: [cyan]{command}[/]", highlight=False, soft_wrap=True)
    for note in result.notes:
        console.print(f"  [dim]{note}[/]", highlight=False, soft_wrap=True)
    if result.url:
        console.print(f"  {result.url_line()}")


def _ship_local(model: str, dry_run: bool, options: dict[str, Any]) -> None:
    import uvicorn

    from mltrack.config import load_settings
    from mltrack.serve.app import create_app, resolve_token
    from mltrack.serve.model import load_model, resolve_model

    conf = load_settings().serve
    host, port = options["host"] or conf.host, options["port"] or conf.port
    auth = conf.auth if options["auth"] is None else options["auth"]
    with status(f"Resolving {model}..."):
        ref = resolve_model(model)
    console.print(f"model: {ref.uri}" + (f" (version {ref.version})" if ref.version else ""))
    if dry_run:
        console.print(f"dry run: would serve on http://{host}:{port}")
        return
    with status("Loading the model..."):
        loaded = load_model(ref)
    console.print(f"loaded in {loaded.load_seconds:.1f} s ({loaded.spec.kind} input)")
    token, generated = resolve_token(auth, None)
    application = create_app(loaded, conf, auth=auth, token=token, announce_token=False)
    url = f"http://{host}:{port}"
    console.print(f"[bold green]serving[/] {url}  (docs: {url}/docs, Ctrl-C to stop)")
    if generated:
        console.print(
            f"API token (shown once; set MLTRACK_API_TOKEN to choose your own): {token}",
            highlight=False,
        )
    elif not auth:
        console.print(
            "[yellow]auth is off[/]: anyone who can reach this address can call the model"
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]listening on {host}[/]: reachable from other machines")
    # uvicorn re-raises SIGTERM after its graceful shutdown: exit normally then, so the
    # model's download directory is removed at exit.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, exit_on_signal)
    try:
        uvicorn.run(
            application, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30
        )
    except OSError as exc:
        raise ServerStartError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
        ) from None


def _load_data(data: Path | None) -> Any:
    if data is None:
        return None
    try:
        return json.loads(data.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {data}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(
            f'{data} is not valid JSON ({exc}); send records like [{{"x": 1}}]'
        ) from None


@app.command(name="try")
def try_(
    target: str = typer.Argument(
        ..., help="A server URL (http://...) or a model name/URI to load here."
    ),
    data: Path | None = typer.Option(
        None, "--data", "-d", help="JSON file with the request (default: the input example)."
    ),
    token: str | None = typer.Option(
        None, "--token", help="Bearer token (default: MLTRACK_API_TOKEN)."
    ),
    repeat: int = typer.Option(
        1, "--repeat", min=1, max=10_000, help="Send it N times and report the median latency."
    ),
) -> None:
    """Send a request to a model (its input example by default); show the prediction and latency."""
    payload = _load_data(data)
    if target.startswith(("http://", "https://")):
        answer, latencies = _try_url(
            target.rstrip("/"), payload, token or os.environ.get("MLTRACK_API_TOKEN"), repeat
        )
    else:
        answer, latencies = _try_local(target, payload, repeat)
    latencies.sort()
    console.print_json(data=answer)
    median = latencies[len(latencies) // 2] * 1000
    console.print(f"latency: {median:.2f} ms" + (f" (median of {repeat})" if repeat > 1 else ""))


def _try_url(url: str, payload: Any, token: str | None, repeat: int) -> tuple[Any, list[float]]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            if payload is None:
                meta = client.get("/metadata")
                _raise_for(meta, url)
                payload = meta.json().get("input_example")
                if payload is None:
                    raise ConfigError(
                        "the model has no input example; pass one with --data file.json"
                    )
            latencies = []
            for _ in range(repeat):
                start = time.perf_counter()
                response = client.post("/predict", json=payload)
                latencies.append(time.perf_counter() - start)
                _raise_for(response, url)
            return response.json(), latencies
    except httpx.HTTPError as exc:
        from mltrack.transport import network_reason

        raise ServerStartError(
            f"cannot reach {url} ({network_reason(exc)}); is the server running"
            " (ml ship NAME --local)?"
        ) from None


def _raise_for(response: Any, url: str) -> None:
    if response.status_code < 400:
        return
    path = response.request.url.path
    if response.status_code == 404 and path.endswith("/metadata"):
        # Anything but an mltrack model server: an MLflow server, a typo'd port.
        raise DeployError(
            f"{url} is not an mltrack model server (404 for /metadata); start one with"
            " `ml ship NAME --local` and pass the URL it prints"
        )
    try:
        body = response.json()
        message = str(body.get("error", response.text)) if isinstance(body, dict) else str(body)
    except ValueError:
        message = response.text
    hint = " (set MLTRACK_API_TOKEN or pass --token)" if response.status_code == 401 else ""
    shown = " ".join(message.split())[:200] or "no body"  # one line, even of an HTML page
    raise DeployError(f"{url} answered {response.status_code} for {path}: {shown}{hint}")


def _try_local(model: str, payload: Any, repeat: int) -> tuple[Any, list[float]]:
    from mltrack.serve.model import load_model
    from mltrack.serve.predictor import Predictor
    from mltrack.serve.schema import RequestError

    with status(f"Loading {model}..."):
        loaded = load_model(model)
    payload = payload if payload is not None else loaded.input_example
    if payload is None:
        raise ConfigError("the model has no input example; pass one with --data file.json")
    predictor = Predictor(loaded)
    body = json.dumps(payload).encode()
    latencies = []
    try:
        predictor.predict_body(body)  # warm-up: the first call pays one-off initialisation
        for _ in range(repeat):
            start = time.perf_counter()
            answer = predictor.predict_body(body)
            latencies.append(time.perf_counter() - start)
    except RequestError as exc:
        raise ConfigError(f"bad input ({exc.status}): {exc.message}") from None
    return answer, latencies


def _can_open_browser() -> bool:
    if os.environ.get("CI"):
        return False
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


@app.command()
def ui(
    port: int = typer.Option(5000, "--port", help="Port for the UI on 127.0.0.1."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser."),
) -> None:
    """Start the MLflow UI for the configured tracking store (opens nothing in CI)."""
    from mltrack.config import load_settings

    settings = load_settings()
    browser = not no_browser and _can_open_browser()
    if settings.tracking_uri and settings.tracking_uri.startswith(("http://", "https://")):
        from mltrack.uris import redact_uri, strip_userinfo

        # A password in the URI stays out of the terminal and the browser's history: the
        # server's own sign-in asks for it.
        console.print(
            f"the tracking store is a server: {redact_uri(settings.tracking_uri)}",
            highlight=False,
        )
        if browser:
            import webbrowser

            webbrowser.open(strip_userinfo(settings.tracking_uri)[0])
        return
    from mltrack.store import tracking_store

    uri = tracking_store(settings).uri  # creates the project's local store when needed
    _run_ui(uri, settings.project_root / ".mltrack" / "artifacts", port, browser)


def _ui_env(uri: str, artifacts: Path) -> dict[str, str]:
    """Environment of MLflow's server app: the store, no job runner, nothing inherited."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(
        {
            "_MLFLOW_SERVER_FILE_STORE": uri,
            "_MLFLOW_SERVER_REGISTRY_STORE": uri,
            "_MLFLOW_SERVER_ARTIFACT_ROOT": artifacts.as_uri(),
            "_MLFLOW_SERVER_SERVE_ARTIFACTS": "false",
            "_MLFLOW_SGI_NAME": "uvicorn",
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "PYTHONWARNINGS": "ignore",
        }
    )
    return env


def _run_ui(uri: str, artifacts: Path, port: int, browser: bool) -> None:
    """MLflow's server app under one uvicorn worker (what `mlflow ui` runs, minus the
    CLI start-up and job runner), in its own process group, stopped on exit."""
    import subprocess

    from mltrack.localserver import wait_healthy

    artifacts.mkdir(parents=True, exist_ok=True)
    from mltrack._process import keeper_command
    from mltrack.serverapp import uvicorn_command

    # Under a keeper: the UI ends with `ml ui`, even when that is SIGKILLed.
    proc = subprocess.Popen(
        keeper_command(uvicorn_command("127.0.0.1", port)),
        env=_ui_env(uri, artifacts),
        start_new_session=True,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        with status(f"Starting the MLflow UI for {uri}..."):
            try:
                wait_healthy(url, timeout=180, proc=proc)
            except MltrackError:
                raise ServerStartError(
                    f"the MLflow UI did not start on port {port}; is the port taken? try --port"
                ) from None
        console.print(
            f"MLflow UI {url}  (store: {uri}; Ctrl-C to stop)", highlight=False, soft_wrap=True
        )
        if browser:
            import webbrowser

            webbrowser.open(url)
        proc.wait()
    finally:
        if proc.poll() is None:
            from mltrack.localserver import kill_group

            kill_group(proc, grace_s=15)
            err_console.print("MLflow UI stopped")
