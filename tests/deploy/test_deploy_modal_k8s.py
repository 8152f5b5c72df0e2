"""Modal app file (imported with the real modal package) and Kubernetes/KServe manifests."""

from __future__ import annotations

import ast
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mltrack.deploy import ship
from mltrack.errors import DeployError
from tests._helpers import ml_in_process

SCHEMAS = Path(__file__).parent / "schemas"


# ----------------------------------------------------------------------------- Modal


@pytest.fixture(scope="module")
def modal_dir(deploy_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("modal")
    result = ship(
        deploy_model.name, to="modal", dry_run=True, output_dir=out, gpu="T4", max_replicas=3
    )
    assert result.commands == [f"cd {out.resolve()} && modal deploy modal_app.py"]
    return out


def test_modal_app_file_compiles(modal_dir: Path) -> None:
    source = (modal_dir / "modal_app.py").read_text()
    tree = ast.parse(source)
    compile(tree, "modal_app.py", "exec")
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions == ["serve"]
    assert 'gpu="T4"' in source and "max_containers=3" in source


def test_modal_app_imports_with_the_modal_package(modal_dir: Path, deploy_model) -> None:
    modal = pytest.importorskip("modal")
    spec = importlib.util.spec_from_file_location("generated_modal_app", modal_dir / "modal_app.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)  # builds the image spec and registers the function
    finally:
        sys.modules.pop(spec.name, None)
    assert isinstance(module.app, modal.App)
    assert module.app.name == f"mltrack-{deploy_model.name}"
    assert isinstance(module.serve, modal.Function)


def test_modal_rejects_unknown_gpu(deploy_model, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="unknown Modal GPU 'Z80'"):
        ship(deploy_model.name, to="modal", dry_run=True, output_dir=tmp_path, gpu="Z80")


# ------------------------------------------------------------------------ Kubernetes


def _deserialize(data: dict[str, Any], klass: str) -> Any:
    """Deserialize with the kubernetes client's OpenAPI models (required fields checked)."""
    from kubernetes.client import ApiClient

    client = ApiClient()
    obj = client._ApiClient__deserialize(data, klass)  # type: ignore[attr-defined]
    # A round trip drops keys the model does not know: equality means no unknown field.
    assert client.sanitize_for_serialization(obj) == data, f"{klass} has unknown or misspelt fields"
    return obj


@pytest.fixture(scope="module")
def k8s_dir(deploy_model, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("k8s")
    result = ship(
        deploy_model.name,
        to="kubernetes",
        dry_run=True,
        output_dir=out,
        gpu="1",
        min_replicas=2,
        max_replicas=6,
    )
    assert result.commands[-1] == f"kubectl -n default apply -f {out.resolve() / 'k8s'}"
    assert (out / "Dockerfile").is_file()  # the image's build context comes along
    return out


def test_deployment_service_hpa_validate_against_kubernetes_models(
    k8s_dir: Path, deploy_model
) -> None:
    docs = {p.name: yaml.safe_load(p.read_text()) for p in sorted((k8s_dir / "k8s").glob("*.yaml"))}
    assert set(docs) == {"deployment.yaml", "service.yaml", "hpa.yaml"}
    deployment = _deserialize(docs["deployment.yaml"], "V1Deployment")
    service = _deserialize(docs["service.yaml"], "V1Service")
    hpa = _deserialize(docs["hpa.yaml"], "V2HorizontalPodAutoscaler")

    container = deployment.spec.template.spec.containers[0]
    assert container.image == f"mltrack/{deployment.metadata.name}:1"
    assert container.liveness_probe.http_get.path == "/health"
    assert container.readiness_probe.http_get.path == "/ready"
    assert container.security_context.run_as_non_root is True
    assert container.resources.limits["nvidia.com/gpu"] == "1"
    token = next(e for e in container.env if e.name == "MLTRACK_API_TOKEN")
    assert token.value_from.secret_key_ref.name == f"{deploy_model.name}-api-token"
    assert (
        deployment.spec.selector.match_labels.items()
        <= deployment.spec.template.metadata.labels.items()
    )
    assert service.spec.selector == deployment.spec.selector.match_labels
    assert service.spec.ports[0].target_port == container.ports[0].name
    assert hpa.spec.scale_target_ref.name == deployment.metadata.name
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (2, 6)


def test_kserve_inference_service_validates_against_its_schema(
    deploy_model, tmp_path: Path
) -> None:
    import jsonschema

    ship(
        deploy_model.name,
        to="kubernetes",
        dry_run=True,
        output_dir=tmp_path,
        kserve=True,
        auth=False,
    )
    [path] = (tmp_path / "k8s").glob("*.yaml")
    isvc = yaml.safe_load(path.read_text())
    schema = json.loads((SCHEMAS / "kserve-inferenceservice-v1beta1.json").read_text())
    jsonschema.validate(isvc, schema)
    for container in isvc["spec"]["predictor"]["containers"]:
        _deserialize(container, "V1Container")
    env = {e["name"]: e.get("value") for e in isvc["spec"]["predictor"]["containers"][0]["env"]}
    assert env["MLTRACK_SERVE__AUTH"] == "false"
    broken = {**isvc, "spec": {"predictor": {"minReplicas": -1}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_ship_cli_dry_run_lists_files_and_commands(deploy_model, tmp_path: Path) -> None:
    proc = ml_in_process(
        "ship", deploy_model.name, "--to", "k8s", "--dry-run", "-o", str(tmp_path), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote k8s/deployment.yaml" in proc.stdout and "kubectl -n default apply" in proc.stdout
    bad = ml_in_process("ship", deploy_model.name, "--to", "heroku", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown target 'heroku'" in bad.stderr


def test_a_challenger_ships_beside_its_champion_not_over_it(
    deploy_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An A/B test ships `NAME@champion` and `NAME@challenger`: two output folders, two
    Deployments and Services whose selectors do not pick the other's pods."""
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    client = MlflowClient()
    client.set_registered_model_alias(deploy_model.name, "challenger", "1")
    try:
        champion, challenger = (
            ship(f"{deploy_model.name}@{alias}", to="kubernetes", dry_run=True)
            for alias in ("champion", "challenger")
        )
    finally:
        client.delete_registered_model_alias(deploy_model.name, "challenger")
    ship_dir = (tmp_path / "ship").resolve()
    assert champion.output_dir == ship_dir / f"{deploy_model.name}-kubernetes"
    assert challenger.output_dir == ship_dir / f"{deploy_model.name}-challenger-kubernetes"
    names, selectors = [], []
    for result in (champion, challenger):
        k8s = result.output_dir / "k8s"
        deployment = yaml.safe_load((k8s / "deployment.yaml").read_text())
        service = yaml.safe_load((k8s / "service.yaml").read_text())
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        names.append((deployment["metadata"]["name"], service["metadata"]["name"]))
        selectors.append(service["spec"]["selector"])
    assert names == [(deploy_model.name,) * 2, (f"{deploy_model.name}-challenger",) * 2]
    assert selectors[0] != selectors[1], "each Service selects only its own arm's pods"
