"""URIs that may carry a password: shown, stored and printed without it (mltrack.uris)."""

from __future__ import annotations

import dataclasses

import pytest

from mltrack.config import Settings
from mltrack.store import TrackingStore
from mltrack.teamserver import TeamServerConfig
from mltrack.tracking import RunHandle
from mltrack.uris import redact_uri, redact_urls, repr_without_passwords, strip_userinfo


def test_redact_uri_hides_only_the_password() -> None:
    assert (
        redact_uri("postgresql://bob:s3cr%40t@db:5432/mlflow")
        == "postgresql://bob:***@db:5432/mlflow"
    )
    assert redact_uri("sqlite:///x.db") == "sqlite:///x.db"
    assert redact_uri("postgresql://bob@db/mlflow") == "postgresql://bob@db/mlflow"
    assert redact_uri("http://:tok3n@host") == "http://***@host"


def test_strip_userinfo_splits_off_user_and_password() -> None:
    assert strip_userinfo("http://bob:p%40ss@127.0.0.1:5000/x") == (
        "http://127.0.0.1:5000/x",
        "bob",
        "p@ss",
    )
    assert strip_userinfo("http://127.0.0.1:5000") == ("http://127.0.0.1:5000", None, None)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "API request to http://bob:s3cret@127.0.0.1:9/api/2.0/mlflow/runs/create failed",
            "API request to http://bob:***@127.0.0.1:9/api/2.0/mlflow/runs/create failed",
        ),
        (
            "from postgresql+psycopg://u:p%40ss@db:5432/x to https://a:b@h",
            "from postgresql+psycopg://u:***@db:5432/x to https://a:***@h",
        ),
        ("'http://bob:s3cret@host'", "'http://bob:***@host'"),  # in a repr
        (
            "http://bob@host/x and http://host:5000/a@b",
            "http://bob@host/x and http://host:5000/a@b",
        ),
        ("no URL at all: user:pw@host", "no URL at all: user:pw@host"),
    ],
)
def test_redact_urls_hides_the_password_of_every_url_in_a_text(text: str, shown: str) -> None:
    assert redact_urls(text) == shown


@pytest.mark.parametrize(
    "value",
    [
        RunHandle("abc", "train", "http://bob:s3cret@host:5000"),
        TrackingStore("http://bob:s3cret@host:5000", "environment", "MLFLOW_TRACKING_URI"),
        Settings(tracking_uri="http://bob:s3cret@host:5000"),
        TeamServerConfig(backend="postgresql://mlflow:s3cret@db/mlflow"),
    ],
    ids=lambda value: type(value).__name__,
)
def test_objects_holding_a_uri_show_it_without_the_password(value: object) -> None:
    for shown in (repr(value), str(value), f"{value}"):
        assert "s3cret" not in shown and ":***@" in shown


def test_the_decorator_keeps_the_class_otherwise_unchanged() -> None:
    @repr_without_passwords
    @dataclasses.dataclass
    class Target:
        url: str

    target = Target("http://u:pw@h")
    assert target.url == "http://u:pw@h"  # the value itself is untouched
    assert repr(target).endswith("Target(url='http://u:***@h')")
