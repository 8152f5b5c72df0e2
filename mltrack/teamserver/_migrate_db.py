"""Read or upgrade a tracking database's schema (``python -m mltrack.teamserver._migrate_db``).

``revision`` prints the alembic revision the database is at (empty: no schema);
``upgrade`` runs ``mlflow db upgrade``. The URL (maybe with a password) comes in
``MLTRACK_MIGRATE_URL``, never on a command line. Exits 3 with one line on stderr when
the upgrade fails.
"""

import os
import sys


def revision(url: str) -> None:
    import sqlalchemy
    from alembic.migration import MigrationContext

    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        print(MigrationContext.configure(conn).get_current_revision() or "")


def upgrade(url: str) -> None:
    from mlflow.db import upgrade as mlflow_upgrade

    try:
        callback = mlflow_upgrade.callback  # what `mlflow db upgrade URL` runs
        assert callback is not None
        callback(url)
    except Exception as exc:
        lines = [line for line in str(exc).strip().splitlines() if line.strip()]
        print(type(exc).__name__ + ": " + (lines[0] if lines else ""), file=sys.stderr)
        sys.exit(3)


if __name__ == "__main__":
    {"revision": revision, "upgrade": upgrade}[sys.argv[1]](os.environ["MLTRACK_MIGRATE_URL"])
