"""One-command deployment: ``mltrack.ship(name, to=...)`` and ``ml ship``.

Every target implements :class:`Target`: ``build`` writes real artifacts (a build
context, an app file, manifests, a SAM template) into an output directory, and
``deploy`` runs the target's own tool (``docker``, ``modal``, ``sam``, ``kubectl``) when it
is installed and usable, otherwise it records the exact commands to run. ``dry_run=True``
only builds.

Examples:
    >>> import mltrack
    >>> result = mltrack.ship("iris-classifier", to="docker", dry_run=True)  # doctest: +SKIP
    >>> print(result.commands[0])  # doctest: +SKIP
    docker build -t mltrack/iris-classifier:3 ship/iris-classifier-docker
"""

from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from mltrack.errors import DeployError
from mltrack.serve.model import ModelRef, resolve_model

__all__ = ["TARGETS", "ShipOptions", "ShipResult", "Target", "get_target", "ship"]

TargetName = Literal["local", "docker", "modal", "lambda", "kubernetes"]
#: target name -> module defining ``TARGET``
TARGETS: dict[str, str] = {
    "local": "mltrack.deploy.local",
    "docker": "mltrack.deploy.docker",
    "modal": "mltrack.deploy.modal",
    "lambda": "mltrack.deploy.lambda_",
    "kubernetes": "mltrack.deploy.kubernetes",
}
_ALIASES = {"k8s": "kubernetes", "kserve": "kubernetes", "aws-lambda": "lambda"}


@dataclass
class ShipOptions:
    """Options shared by the targets; each target reads the ones it understands.

    Attributes:
        host: interface for ``local`` (default: ``serve.host``).
        port: port for ``local`` (default ``serve.port``) and the container port elsewhere (8080).
        auth: require a bearer token (default: ``serve.auth``).
        gpu: GPU type: Modal (``T4``, ``A10G``, ``A100``...) or, for Kubernetes, a count
            of ``nvidia.com/gpu`` (``1``, or ``T4`` meaning one).
        image: container image name for ``docker`` and ``kubernetes`` (default
            ``mltrack/<model>:<version>``); ``lambda`` leaves naming to ``sam build``.
        push: push the image after building (``docker``).
        memory_mb: memory for Lambda (MB), Modal (MB) and the Kubernetes limit (MiB).
        timeout_s: request timeout for Lambda and Modal.
        cpu: CPU request for Kubernetes and Modal (cores).
        min_replicas: lower bound of autoscaling (Kubernetes HPA, default 1; Modal min
            containers, default 0 = scale to zero).
        max_replicas: upper bound of autoscaling.
        concurrency: requests one container handles at once (Modal).
        kserve: emit a KServe ``InferenceService`` instead of Deployment + Service + HPA.
        namespace: Kubernetes namespace.
    """

    host: str | None = None
    port: int | None = None
    auth: bool | None = None
    gpu: str | None = None
    image: str | None = None
    push: bool = False
    memory_mb: int | None = None
    timeout_s: int | None = None
    cpu: float | None = None
    min_replicas: int | None = None
    max_replicas: int = 5
    concurrency: int = 16
    kserve: bool = False
    namespace: str = "default"


@dataclass
class ShipResult:
    """What a ship produced.

    Attributes:
        target: the target name.
        model: the resolved model reference.
        output_dir: where the artifacts were written (``None`` for ``local``).
        files: the generated files, relative to ``output_dir``.
        commands: the exact commands that deploy the artifacts (run already when
            ``deployed`` is true, otherwise for you to run).
        deployed: whether the target's tool ran successfully.
        url: where the model answers, when known.
        notes: one-line remarks (e.g. why a tool was not run).
    """

    target: str
    model: ModelRef
    output_dir: Path | None = None
    files: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    deployed: bool = False
    url: str | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few human-readable lines."""
        lines = [
            f"{self.target}: {self.model.uri}"
            + (f" -> {self.output_dir}" if self.output_dir else "")
        ]
        lines += [f"  wrote {name}" for name in self.files]
        verb = "ran" if self.deployed else "run"
        lines += [f"  {verb}: {command}" for command in self.commands]
        lines += [f"  note: {note}" for note in self.notes]
        if self.url:
            lines.append(f"  {self.url_line()}")
        return "\n".join(lines)

    def url_line(self) -> str:
        """``url: URL``, or ``url once deployed: URL`` while nothing answers there yet."""
        return f"url: {self.url}" if self.deployed else f"url once deployed: {self.url}"


class Target(Protocol):
    """A deployment target.

    ``build`` writes the artifacts and returns a result listing them and the commands
    that deploy them; ``deploy`` runs those commands when the tool is available (and
    otherwise adds a note saying why not), returning the updated result.
    """

    name: str

    def build(self, ref: ModelRef, output_dir: Path, options: ShipOptions) -> ShipResult:
        """Write the artifacts for ``ref`` into ``output_dir``."""
        ...

    def deploy(self, result: ShipResult, options: ShipOptions) -> ShipResult:
        """Run the deploy commands of ``result`` (or explain why they were not run)."""
        ...


def get_target(name: str) -> Target:
    """The target called ``name`` (``local``, ``docker``, ``modal``, ``lambda``, ``kubernetes``).

    Raises:
        DeployError: unknown target.
    """
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in TARGETS:
        raise DeployError(f"unknown target '{name}'; choose one of: {', '.join(TARGETS)}")
    target: Target = importlib.import_module(TARGETS[key]).TARGET
    return target


def _options(values: dict[str, Any]) -> ShipOptions:
    known = {f.name for f in dataclasses.fields(ShipOptions)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise DeployError(
            f"unknown ship option '{unknown[0]}'; known options: {', '.join(sorted(known))}"
        )
    return ShipOptions(**{k: v for k, v in values.items() if v is not None})


def ship(
    name_or_uri: str,
    to: TargetName | str = "local",
    *,
    dry_run: bool = False,
    output_dir: str | Path | None = None,
    **options: Any,
) -> ShipResult:
    """Ship a model: build the target's artifacts and deploy them.

    Args:
        name_or_uri: registered model name (``NAME`` = ``NAME@champion``, else the latest
            version), ``NAME@alias``, ``NAME/VERSION``, an MLflow model URI or a directory.
        to: ``local``, ``docker``, ``modal``, ``lambda`` or ``kubernetes``.
        dry_run: write the artifacts but run no external tool (``local``: start nothing).
        output_dir: where artifacts go; default ``ship/<model>-<target>`` in the working
            directory.
        **options: see :class:`ShipOptions` (``gpu``, ``image``, ``memory_mb``...).

    Returns:
        What was written and run; ``result.commands`` are the exact commands to deploy.
        For ``to="local"`` without ``dry_run`` this blocks while the server runs.

    Raises:
        ModelNotFoundError: the model does not exist.
        DeployError: unknown target or option, or a deploy step failed.
    """
    target = get_target(str(to))
    opts = _options(options)
    ref = resolve_model(name_or_uri)
    out = Path(output_dir) if output_dir else Path.cwd() / "ship" / f"{ref.slug}-{target.name}"
    result = target.build(ref, out.resolve(), opts)
    if dry_run:
        result.notes.append("dry run: nothing was started or deployed")
        return result
    return target.deploy(result, opts)
