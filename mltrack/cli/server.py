"""``ml server``: a team MLflow tracking server, its health check, users and migrations."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import typer

from mltrack.cli._app import app, console, exit_on_signal
from mltrack.errors import ConfigError, MltrackError

# No help= here: Typer would show it instead of the callback's docstring, which says what
# `ml server` alone does. Without a subcommand the group starts the server, so its usage
# line shows the subcommand as optional.
server_app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    subcommand_metavar="[COMMAND [ARGS]...]",
)
app.add_typer(server_app, name="server")


@server_app.callback()
def server(
    ctx: typer.Context,
    backend: str = typer.Option(
        "sqlite:///mlflow.db",
        "--backend",
        envvar="MLFLOW_BACKEND_STORE_URI",
        help="Database URI: postgresql://USER:PASSWORD@HOST:5432/DB for a team, sqlite:///FILE "
        "for one person. Also read from MLFLOW_BACKEND_STORE_URI (as `mlflow server` does), "
        "which keeps the password off the command line.",
        show_default=True,
    ),
    artifacts: str = typer.Option(
        "./mlartifacts", "--artifacts", help="Artifact store: a directory or s3://bucket/path."
    ),
    serve_artifacts: bool = typer.Option(
        True,
        "--serve-artifacts/--no-serve-artifacts",
        help="Proxy artifact uploads/downloads through the server (clients need no storage "
        "credentials).",
    ),
    auth: bool = typer.Option(
        False,
        "--auth",
        help="Enable MLflow's basic-auth app; the first start needs MLFLOW_AUTH_ADMIN_PASSWORD.",
    ),
    auth_db: str = typer.Option(
        None, "--auth-db", help="Users/permissions database URI (default: see the guide)."
    ),
    default_permission: str = typer.Option(
        "READ",
        "--default-permission",
        help="What users may do on experiments nobody granted them: READ, EDIT, MANAGE, "
        "NO_PERMISSIONS.",
    ),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Bind address; 0.0.0.0 exposes the server to the network."
    ),
    allowed_hosts: str = typer.Option(
        None,
        "--allowed-hosts",
        metavar="NAMES",
        help="Host names clients may put in the server URL, comma-separated (e.g. "
        "mlflow.acme.internal). MLflow answers other names with 403 'Invalid Host header'; "
        "localhost, private IPs and, with --host 0.0.0.0, this machine's names always work.",
    ),
    port: int = typer.Option(5000, "--port", help="TCP port (0 = any free port)."),
    workers: int = typer.Option(
        None,
        "--workers",
        help="uvicorn worker processes. Default: one per core (2-16) on PostgreSQL, as many "
        "as its free connections allow; 2 on sqlite, whose one write lock serialises more.",
        show_default=False,
    ),
    state_dir: Path = typer.Option(
        Path(".mltrack/server"),
        "--state-dir",
        help="Where the generated auth config, secret key and server log live.",
    ),
    check: str = typer.Option(
        None,
        "--check",
        metavar="URL",
        help="Do not start anything: verify the server at URL (health, auth, write/read).",
    ),
) -> None:
    """Run MLflow's tracking server for a team (PostgreSQL, artifact proxy, basic auth).

    Without a subcommand, `ml server` starts the server with the options below and runs in
    the foreground until Ctrl-C; `ml server --check URL` verifies a running server instead
    and starts nothing. Clients connect with MLFLOW_TRACKING_URI (and
    MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD when --auth is on). The
    subcommands add users, grant permissions and migrate the database; the options below
    are for starting or checking the server, not for them.
    """
    if ctx.invoked_subcommand is not None:
        return
    if check:
        _check(check)
        return
    from mltrack.teamserver import TeamServerConfig

    config = TeamServerConfig(
        backend=backend,
        artifacts=artifacts,
        serve_artifacts=serve_artifacts,
        auth=auth,
        auth_db=auth_db,
        default_permission=default_permission.upper(),
        host=host,
        allowed_hosts=tuple(n.strip() for n in (allowed_hosts or "").split(",") if n.strip()),
        port=port,
        workers=workers,
        state_dir=state_dir,
    )
    _serve(config)


def _check(url: str) -> None:
    from mltrack.teamserver import check_server
    from mltrack.uris import redact_uri

    console.print(f"[bold]checking[/] {redact_uri(url)}", highlight=False)
    results = check_server(url)
    for result in results:
        mark = "[green]ok[/]  " if result.ok else "[bold red]FAIL[/]"
        console.print(f"  {mark} {result.name:<11} {result.detail}", highlight=False)
    if not all(r.ok for r in results):
        raise typer.Exit(1)
    console.print("[green]server is ready for the team[/]")


def _serve(config: object) -> None:
    from mltrack.teamserver import TeamServerConfig, client_instructions, start_team_server

    assert isinstance(config, TeamServerConfig)
    config.validate()
    # `systemctl stop`, `docker stop` and Kubernetes send SIGTERM: stop the workers too.
    signal.signal(signal.SIGTERM, exit_on_signal)
    console.print("[bold]preparing[/] the database and starting MLflow…")
    server = start_team_server(config)
    try:
        console.print(
            f"[bold green]mltrack team server[/] {server.url}  "
            f"(ready in {server.startup_s:.1f} s, log: {server.log_path})",
            highlight=False,
            soft_wrap=True,
        )
        for key, value in config.describe().items():
            console.print(f"  {key:<10} {value}", highlight=False, soft_wrap=True)
        if config.auth:
            admin = os.environ.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin"
            console.print(
                f"  admin      {admin!r} (password from MLFLOW_AUTH_ADMIN_PASSWORD at first "
                "start; add users with `ml server user-add`)",
                highlight=False,
                soft_wrap=True,
            )
        if config.host == "127.0.0.1":
            console.print("  [dim]bound to 127.0.0.1: only this machine can connect[/]")
        console.print("[bold]clients connect with:[/]")
        for line in client_instructions(config):
            console.print(f"  {line}", highlight=False, markup=False, soft_wrap=True)
        console.print("[dim]Ctrl-C stops the server[/]")
        code = server.process.wait()
        raise MltrackError(
            f"the server stopped unexpectedly (exit {code}); log tail:\n{server.log_tail(800)}"
        )
    finally:
        server.stop()


def _admin_env() -> tuple[str, str, str]:
    from mltrack.uris import strip_userinfo

    # Credentials in the URI count, as for MLflow's client (the variables win); the URL
    # used and shown from here on has none.
    url, uri_user, uri_password = strip_userinfo(os.environ.get("MLFLOW_TRACKING_URI", ""))
    user = os.environ.get("MLFLOW_TRACKING_USERNAME", "") or uri_user or ""
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD", "") or uri_password or ""
    if not url.startswith(("http://", "https://")):
        raise ConfigError("set MLFLOW_TRACKING_URI to the server URL (http://HOST:PORT)")
    if not user or not password:
        raise ConfigError(
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an admin's (or the "
            "experiment owner's) credentials"
        )
    return url, user, password


@server_app.command("user-add")
def user_add(
    username: str = typer.Argument(..., help="The new user's name."),
    password_env: str = typer.Option(
        None,
        "--password-env",
        metavar="VAR",
        help="Read the new password from this environment variable instead of a prompt.",
    ),
) -> None:
    """Create a user on the server in MLFLOW_TRACKING_URI (run as an admin)."""
    from mltrack.teamserver import create_user

    url, admin, admin_password = _admin_env()
    if password_env:
        password = os.environ.get(password_env, "")
        if not password:
            raise ConfigError(f"environment variable {password_env} is empty or unset")
    else:
        password = typer.prompt(
            f"password for {username}", hide_input=True, confirmation_prompt=True
        )
    create_user(url, username, password, admin, admin_password)
    console.print(f"[green]created[/] user {username!r} on {url}", highlight=False)


@server_app.command("grant")
def grant(
    username: str = typer.Argument(..., help="Who receives the permission."),
    name: str = typer.Argument(..., help="Experiment name (registered model with --model)."),
    permission: str = typer.Argument(..., help="READ, USE, EDIT, MANAGE or NO_PERMISSIONS."),
    model: bool = typer.Option(False, "--model", help="NAME is a registered model."),
) -> None:
    """Grant a user a permission on an experiment or a registered model (as admin or owner)."""
    from mltrack.teamserver import grant_permission

    url, granter, granter_password = _admin_env()
    grant_permission(url, granter, granter_password, username, name, permission, model=model)
    kind = "registered model" if model else "experiment"
    console.print(
        f"[green]granted[/] {permission.upper()} on {kind} {name!r} to {username!r}",
        highlight=False,
    )


@server_app.command("migrate")
def migrate_cmd(
    backend: str = typer.Option(
        ...,
        "--backend",
        envvar="MLFLOW_BACKEND_STORE_URI",
        help="Database URI to upgrade (or MLFLOW_BACKEND_STORE_URI).",
    ),
    backup_dir: Path = typer.Option(
        None, "--backup-dir", help="Where the sqlite backup goes (default: next to the file)."
    ),
    no_backup: bool = typer.Option(False, "--no-backup", help="Skip the sqlite backup copy."),
) -> None:
    """Upgrade the database schema to this MLflow version (`mlflow db upgrade`).

    A sqlite database is first copied to FILE.backup-YYYYMMDDTHHMMSSZ; for PostgreSQL
    take a pg_dump yourself first. Stop the server while migrating.
    """
    from mltrack.teamserver import migrate
    from mltrack.uris import redact_uri

    console.print(f"[bold]migrating[/] {redact_uri(backend)}", highlight=False)
    result = migrate(backend, backup_dir=backup_dir, backup=not no_backup)
    if result.backup:
        console.print(f"  backup     {result.backup}", highlight=False)
    before = result.revision_before or "empty"
    if result.revision_before == result.revision_after:
        console.print(f"  schema     already at {result.revision_after} (nothing to do)")
    else:
        console.print(f"  schema     {before} -> {result.revision_after}", highlight=False)
    console.print("[green]done[/]")
