"""Prepare a tracking database before any worker starts: schema, admin user, connections.

Run by ``ml server`` (``python -m mltrack.teamserver._prepare_db``) and, in Kubernetes,
as the init container's ``prepare.py`` (copied into the ConfigMap). Standard library and
MLflow only: the pods run MLflow's image, without mltrack. The database URI and the
stores come in MLflow's own server variables (``_MLFLOW_SERVER_*``), never on a command
line. Prints ``MLTRACK_DB_CONNECTIONS <max> <free>`` for PostgreSQL; exits 3 with one
line on stderr when the database cannot be prepared.
"""

import os
import sys


def main() -> None:
    try:
        # One quick connection first: MLflow itself retries a dead database for minutes.
        import sqlalchemy

        uri = os.environ["_MLFLOW_SERVER_FILE_STORE"]
        args = {"connect_timeout": 10} if uri.startswith("postgresql") else {}
        engine = sqlalchemy.create_engine(uri, connect_args=args)
        conn = engine.connect()
        if uri.startswith("postgresql"):
            # One prepare at a time per database (servers or pods starting together on a new
            # one): the next waits here, then finds the schema made. Held until this exits.
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(hashtext('mltrack-prepare'))"))

            # What the workers may open: ml server sizes them to it (plan_workers).
            def setting(name: str) -> int:
                query = "SELECT coalesce((SELECT setting FROM pg_settings WHERE name = :n), '0')"
                return int(conn.execute(sqlalchemy.text(query), {"n": name}).scalar() or 0)

            others = (
                conn.execute(
                    sqlalchemy.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                        "AND pid <> pg_backend_pid()"
                    )
                ).scalar()
                or 0
            )
            limit = setting("max_connections")
            free = (
                limit
                - setting("superuser_reserved_connections")
                - setting("reserved_connections")
                - others
            )
            print("MLTRACK_DB_CONNECTIONS", limit, free)
        conn.commit()  # no transaction left open beside the migrations; the lock stays
        from mlflow.server.handlers import initialize_backend_stores

        initialize_backend_stores(
            os.environ["_MLFLOW_SERVER_FILE_STORE"],
            os.environ["_MLFLOW_SERVER_REGISTRY_STORE"],
            os.environ["_MLFLOW_SERVER_ARTIFACT_ROOT"],
        )
        if os.environ.get("MLFLOW_AUTH_CONFIG_PATH"):
            from mlflow.server.auth import bootstrap_admin_user

            bootstrap_admin_user()
    except Exception as exc:
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        print(type(exc).__name__ + ": " + (lines[0] if lines else ""), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    main()
