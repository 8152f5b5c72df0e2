"""Kubernetes target: Deployment + Service + HorizontalPodAutoscaler, or KServe.

The image is the Docker target's (its build context is written next to the manifests
in ``output_dir``). Probes use ``/health`` (liveness) and ``/ready`` (readiness), the pod
runs as the image's non-root user, and the bearer token comes from a Secret. With
``kserve=True`` a single ``serving.kserve.io/v1beta1`` ``InferenceService`` with a
custom predictor container is written instead.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from mltrack.deploy import ShipOptions, ShipResult
from mltrack.deploy._context import dump_yaml, run_tool, tool_answers
from mltrack.deploy.docker import CONTAINER_PORT, default_image, write_context
from mltrack.serve.model import ModelRef

__all__ = ["TARGET", "KubernetesTarget", "manifests"]


def _labels(ref: ModelRef) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": ref.slug, "app.kubernetes.io/managed-by": "mltrack"}
    if ref.version:
        labels["app.kubernetes.io/version"] = str(ref.version)
    return labels


def _resources(options: ShipOptions) -> dict[str, Any]:
    cpu = options.cpu or 0.5
    memory = int(options.memory_mb or 1024)
    limits: dict[str, str] = {"memory": f"{memory}Mi"}
    if options.gpu:
        count = (
            options.gpu.split(":", 1)[1]
            if ":" in options.gpu
            else (options.gpu if options.gpu.isdigit() else "1")
        )
        limits["nvidia.com/gpu"] = count
    return {"requests": {"cpu": f"{int(cpu * 1000)}m", "memory": f"{memory}Mi"}, "limits": limits}


def _container(ref: ModelRef, image: str, options: ShipOptions) -> dict[str, Any]:
    env: list[dict[str, Any]] = [{"name": "MLTRACK_SERVE__HOST", "value": "0.0.0.0"}]
    if options.auth is False:
        env.append({"name": "MLTRACK_SERVE__AUTH", "value": "false"})
    else:
        env.append(
            {
                "name": "MLTRACK_API_TOKEN",
                "valueFrom": {"secretKeyRef": {"name": f"{ref.slug}-api-token", "key": "token"}},
            }
        )

    def probe(path: str, delay: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": path, "port": CONTAINER_PORT},
            "initialDelaySeconds": delay,
            "periodSeconds": 10,
            "timeoutSeconds": 3,
        }

    return {
        "name": "model",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": _resources(options),
        "livenessProbe": probe("/health", 10),
        "readinessProbe": probe("/ready", 5),
        "startupProbe": {**probe("/health", 0), "failureThreshold": 30},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
    }


def manifests(ref: ModelRef, image: str, options: ShipOptions) -> dict[str, dict[str, Any]]:
    """The manifests to write, by file name."""
    labels = _labels(ref)
    meta = {"name": ref.slug, "namespace": options.namespace, "labels": labels}
    container = _container(ref, image, options)
    if options.kserve:
        isvc = {
            "apiVersion": "serving.kserve.io/v1beta1",
            "kind": "InferenceService",
            "metadata": meta,
            "spec": {
                "predictor": {
                    "minReplicas": options.min_replicas or 1,
                    "maxReplicas": options.max_replicas,
                    "containers": [{k: v for k, v in container.items() if k != "startupProbe"}],
                }
            },
        }
        return {"inferenceservice.yaml": isvc}
    selector = {"app.kubernetes.io/name": ref.slug}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": options.min_replicas or 1,
            "selector": {"matchLabels": selector},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "terminationGracePeriodSeconds": 40,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "fsGroup": 10001},
                    "containers": [container],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta,
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": ref.slug},
            "minReplicas": options.min_replicas or 1,
            "maxReplicas": options.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
    }
    return {"deployment.yaml": deployment, "service.yaml": service, "hpa.yaml": hpa}


def cluster_reachable() -> bool:
    """True when ``kubectl`` is installed and its current context answers."""
    return tool_answers(["kubectl", "cluster-info", "--request-timeout=5s"])


class KubernetesTarget:
    """Image build context + manifests under ``k8s/``; ``kubectl apply`` with a cluster."""

    name = "kubernetes"

    def build(self, ref: ModelRef, output_dir: Path, options: ShipOptions) -> ShipResult:
        _, files = write_context(ref, output_dir)
        image = options.image or default_image(ref)
        k8s = output_dir / "k8s"
        k8s.mkdir(parents=True, exist_ok=True)
        for name, manifest in manifests(ref, image, options).items():
            (k8s / name).write_text(dump_yaml(manifest, "Generated by mltrack"))
            files.append(f"k8s/{name}")
        where = shlex.quote(str(output_dir))
        ns = shlex.quote(options.namespace)
        commands = [
            f"docker build -t {shlex.quote(image)} {where}",
            f"docker push {shlex.quote(image)}",
        ]
        if options.auth is not False:
            commands.append(
                f"kubectl -n {ns} create secret generic {ref.slug}-api-token "
                '--from-literal=token="$MLTRACK_API_TOKEN"'
            )
        commands.append(f"kubectl -n {ns} apply -f {shlex.quote(str(k8s))}")
        return ShipResult(self.name, ref, output_dir, files, commands)

    def deploy(self, result: ShipResult, options: ShipOptions) -> ShipResult:
        if not cluster_reachable():
            result.notes.append(
                "no reachable Kubernetes cluster (kubectl cluster-info failed): run the commands above"
            )
            return result
        k8s = (result.output_dir or Path.cwd()) / "k8s"
        run_tool(
            ["kubectl", "-n", options.namespace, "apply", "-f", str(k8s)], k8s, "kubectl apply"
        )
        result.deployed = True
        result.notes.append(
            "applied the manifests; build and push the image first if the cluster cannot pull it"
        )
        return result


TARGET = KubernetesTarget()
