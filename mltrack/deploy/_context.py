"""Shared pieces of every build context: the model, mltrack's serving code, requirements.

A build context is self-contained: ``model/`` holds the MLflow model artifacts,
``mltrack/`` a copy of this package (so the image needs no mltrack release on an index),
and ``requirements.txt`` pins the model's own requirements plus the server's.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import yaml

from mltrack.errors import DeployError
from mltrack.serve.model import ModelRef, write_ref_file

__all__ = [
    "BuildContext",
    "dump_yaml",
    "prepare_context",
    "run_tool",
    "tool_answers",
    "tool_available",
]

#: What the generated server needs besides the model's own requirements.
SERVER_REQUIREMENTS = ("fastapi", "uvicorn", "pydantic", "pyyaml")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*(.*)$")


@dataclass
class BuildContext:
    """A prepared directory and what was learnt while preparing it."""

    root: Path
    model_dir: Path
    requirements: list[str]
    python_version: str


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def pin_requirements(lines: list[str]) -> list[str]:
    """Pin every requirement: keep ``==`` pins, pin the rest to the installed version.

    The server's own packages are appended (pinned) when the model does not list them,
    and ``mltrack`` itself is dropped because the context carries its source.
    """
    pinned: list[str] = []
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    for raw in lines:
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = _REQ_NAME.match(line)
        if match is None:
            pinned.append(line)
            continue
        name, extras, rest = match[1], match[2] or "", match[3].strip()
        spec, _, marker = (part.strip() for part in rest.partition(";"))
        key = name.lower().replace("_", "-")
        if key == "mltrack" or (key, marker) in seen:
            continue
        seen.add((key, marker))
        names.add(key)
        if not spec.startswith("==") and not marker and (version := _installed(name)):
            spec = f"=={version}"
        pinned.append(f"{name}{extras}{spec}" + (f"; {marker}" if marker else ""))
    for name in SERVER_REQUIREMENTS:
        if name not in names and (version := _installed(name)):
            pinned.append(f"{name}=={version}")
    return pinned


def _python_version(model_dir: Path) -> str:
    env = model_dir / "python_env.yaml"
    if env.is_file():
        data = yaml.safe_load(env.read_text()) or {}
        version = str(data.get("python", ""))
        parts = version.split(".")
        if len(parts) >= 2 and parts[0].isdigit():
            return f"{parts[0]}.{parts[1]}"
    import sys

    return f"{sys.version_info.major}.{sys.version_info.minor}"


def _copy_model(ref: ModelRef, dest: Path) -> None:
    from mlflow.artifacts import download_artifacts
    from mlflow.exceptions import MlflowException

    if dest.exists():
        shutil.rmtree(dest)
    source = Path(ref.uri)
    if (source / "MLmodel").is_file():
        shutil.copytree(source, dest)
        return
    with tempfile.TemporaryDirectory(prefix="mltrack-ship-") as tmp:
        try:
            local = Path(download_artifacts(artifact_uri=ref.uri, dst_path=tmp))
        except MlflowException as exc:
            raise DeployError(f"cannot download '{ref.uri}': {str(exc).splitlines()[0]}") from None
        shutil.copytree(local, dest)


def _copy_card(model_dir: Path) -> None:
    """Ship the model card (when the run has one) as ``model/README.md``."""
    import json

    from mltrack.serve.model import REF_FILE, find_card

    try:
        run_id = yaml.safe_load((model_dir / "MLmodel").read_text()).get("run_id")
    except (OSError, yaml.YAMLError, AttributeError):
        return
    card_uri = find_card(run_id)
    if card_uri is None:
        return
    from mlflow.artifacts import download_artifacts

    from mltrack.artifact_reads import no_download_bar

    with tempfile.TemporaryDirectory(prefix="mltrack-card-") as tmp, no_download_bar():
        try:
            shutil.copyfile(
                download_artifacts(artifact_uri=card_uri, dst_path=tmp), model_dir / "README.md"
            )
        except Exception:  # optional: a missing card never fails a ship
            return
    ref = json.loads((model_dir / REF_FILE).read_text())
    ref["card"] = card_uri
    (model_dir / REF_FILE).write_text(json.dumps(ref, indent=2) + "\n")


def _copy_package(dest: Path) -> None:
    import mltrack

    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        Path(mltrack.__file__).parent,
        dest,
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "livedocs"),
    )


def prepare_context(ref: ModelRef, root: Path) -> BuildContext:
    """Write ``model/``, ``mltrack/`` and ``requirements.txt`` under ``root``.

    Raises:
        DeployError: the model cannot be downloaded, or ``root`` is not writable.
    """
    try:
        root.mkdir(parents=True, exist_ok=True)
        model_dir = root / "model"
        _copy_model(ref, model_dir)
        write_ref_file(ref, model_dir)
        _copy_card(model_dir)
        _copy_package(root / "mltrack")
    except OSError as exc:
        raise DeployError(
            f"cannot write the build context in {root}: {exc.strerror or exc}"
        ) from None
    req_file = model_dir / "requirements.txt"
    lines = req_file.read_text().splitlines() if req_file.is_file() else ["mlflow"]
    requirements = pin_requirements(lines)
    (root / "requirements.txt").write_text("\n".join(requirements) + "\n")
    return BuildContext(root, model_dir, requirements, _python_version(model_dir))


class _PlainDumper(yaml.SafeDumper):
    """Writes repeated dicts out in full: no ``&id001`` anchors in generated manifests."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_yaml(data: object, header: str) -> str:
    """YAML text for a generated file, with a ``# header`` comment line first."""
    return f"# {header}\n" + yaml.dump(data, Dumper=_PlainDumper, sort_keys=False)


def tool_available(name: str) -> bool:
    """True when the executable ``name`` is on PATH."""
    return shutil.which(name) is not None


def tool_answers(args: list[str], timeout: float = 20) -> bool:
    """True when the tool is installed and ``args`` exits 0 in time (a daemon or cluster is up)."""
    if not tool_available(args[0]):
        return False
    try:
        proc = subprocess.run(args, capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def run_tool(args: list[str], cwd: Path, step: str, timeout: float = 1800) -> str:
    """Run an external tool; its output, or a :class:`DeployError` naming the step."""
    try:
        proc = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeployError(f"{step}: could not run {args[0]} ({exc})") from None
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise DeployError(f"{step} failed (exit {proc.returncode}): {tail[0][:300]}")
    return proc.stdout
