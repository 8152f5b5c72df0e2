"""Serving resolves names through the registry's resolver and serves aliases by alias URI."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mltrack import registry
from mltrack.errors import ModelNotFoundError
from mltrack.serve.model import resolve_model


def test_alias_references_are_served_by_their_alias_uri(
    tracking_uri: str, served_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from mltrack.config import ServeSettings
    from mltrack.serve import create_app

    name = served_models.table
    client = MlflowClient()
    client.set_registered_model_alias(name, "challenger", "1")
    try:
        # One resolver: the registry's answers the question, serving keeps the alias URI.
        in_registry = registry.resolve_model(name)
        assert (in_registry.uri, in_registry.alias) == (f"models:/{name}/1", "champion")
        for ref, alias in [
            (name, "champion"),  # a bare name: its champion
            (f"models:/{name}", "champion"),
            (f"{name}@challenger", "challenger"),
            (f"models:/{name}@challenger", "challenger"),
        ]:
            resolved = resolve_model(ref)
            assert resolved.uri == f"models:/{name}@{alias}", ref
            assert (resolved.name, resolved.version, resolved.alias) == (name, "1", alias), ref
        pinned = resolve_model(f"models:/{name}/1")  # a version number is no alias
        assert (pinned.uri, pinned.alias) == (f"models:/{name}/1", None)

        app = create_app(f"{name}@challenger", ServeSettings(), auth=False)
        with TestClient(app) as http:
            assert http.get("/ready").json()["model"] == f"models:/{name}@challenger"
            meta = http.get("/metadata").json()
            assert (meta["uri"], meta["alias"], meta["version"]) == (
                f"models:/{name}@challenger",
                "challenger",
                "1",
            )
            # The link to the model's page never carries the tracking URI's password.
            host = tracking_uri.removeprefix("http://")
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://bob:s3cret@{host}")
            meta = http.get("/metadata").json()
            assert meta["model_page"] == f"{tracking_uri}/#/models/{name}/versions/1"
            row = {"a": 1.0, "b": 0.0, "c": 1.0, "n": 2}
            assert len(http.post("/predict", json=[row]).json()["predictions"]) == 1
    finally:
        client.delete_registered_model_alias(name, "challenger")
    with pytest.raises(ModelNotFoundError, match=f"model '{name}' has no alias '@challenger'"):
        resolve_model(f"{name}@challenger")
