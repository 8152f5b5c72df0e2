"""Turn pages into a plan: which items exist, who embeds them, what their cache keys are."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from mltrack.errors import LiveDocsError
from mltrack.livedocs.directives import Directive, find_directives
from mltrack.livedocs.model import EngineConfig, Item, Plan, Problem

__all__ = ["ENGINE_VERSION", "build_plan", "item_header", "read_header"]

#: Bump when the worker or the stored result format changes: invalidates every cache entry.
ENGINE_VERSION = "1"

_HEADER = re.compile(r"^#\s*livedocs:\s*(?P<body>.*)$")
_HEADER_KEYS = {"timeout", "inputs", "snapshot_mask"}


def read_header(path: Path, source: str) -> dict[str, str]:
    """Parse ``# livedocs: key=value ...`` comment lines at the top of a script.

    Raises:
        LiveDocsError: an unknown key or a malformed pair.
    """
    options: dict[str, str] = {}
    for lineno, line in enumerate(source.splitlines()[:40], start=1):
        match = _HEADER.match(line.strip())
        if not match:
            continue
        for token in match.group("body").split():
            if "=" not in token:
                raise LiveDocsError(
                    f"expected key=value in livedocs header, got {token!r}",
                    where=f"{path}:{lineno}",
                )
            key, value = token.split("=", 1)
            if key not in _HEADER_KEYS:
                known = ", ".join(sorted(_HEADER_KEYS))
                raise LiveDocsError(
                    f"unknown livedocs header key {key!r}; use {known}", where=f"{path}:{lineno}"
                )
            options[key] = value
    return options


def _notebook_header(source: str) -> dict[str, str]:
    try:
        meta = json.loads(source).get("metadata", {}).get("livedocs", {})
    except json.JSONDecodeError:
        return {}
    out = {}
    if "timeout" in meta:
        out["timeout"] = str(meta["timeout"])
    if "inputs" in meta:
        out["inputs"] = ",".join(meta["inputs"])
    if "snapshot_mask" in meta:
        out["snapshot_mask"] = str(meta["snapshot_mask"])
    return out


def item_header(root: Path, rel: str) -> dict[str, str]:
    """The livedocs header of a script (comment lines) or notebook (metadata), or ``{}``."""
    path = root / rel
    if path.suffix == ".ipynb":
        return _notebook_header(path.read_text(errors="replace"))
    if path.suffix == ".py":
        return read_header(Path(rel), path.read_text(errors="replace"))
    return {}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _installed_mltrack() -> str:
    """The installed mltrack's metadata: its version, requirements and extras with their
    markers. Examples print them (the install page's extras table), and they change only
    when ``make install`` rewrites them from ``pyproject.toml``: keyed on the lock alone,
    a build run before that install kept the old table in the cache."""
    try:
        dist = distribution("mltrack")
    except PackageNotFoundError:
        return "not-installed"
    return _sha((dist.read_text("METADATA") or dist.version).encode())


def _environment_fingerprint(config: EngineConfig) -> str:
    """Installed mltrack, lockfile and Python version: a change re-executes everything."""
    installed = _installed_mltrack()
    lock = config.root / "uv.lock"
    lock_hash = _sha(lock.read_bytes()) if lock.is_file() else "no-lock"
    py = ".".join(map(str, sys.version_info[:3]))
    # The worker (worker*.py) decides what is captured: a change changes every output.
    worker = _sha(
        b"".join(p.read_bytes() for p in sorted(Path(__file__).parent.glob("worker*.py")))
    )
    # So does what is redacted: a result cached before a name or pattern was added
    # would still hold the secret.
    redact = _sha(
        (Path(__file__).parent / "redact.py").read_bytes()
        + repr((config.redact_env_patterns, config.redact_env, config.redact_patterns)).encode()
    )
    return _sha(f"{ENGINE_VERSION}|{installed}|{lock_hash}|{py}|{worker}|{redact}".encode())


def _tree_hash(root: Path, dirs: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for name in dirs:
        for path in sorted((root / name).rglob("*.py")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _make_file_item(config: EngineConfig, rel: str, where: str) -> Item:
    path = config.root / rel
    if not path.is_file():
        raise LiveDocsError(f"livedocs file {rel!r} does not exist; check the path", where=where)
    if path.suffix not in (".ipynb", ".py"):
        raise LiveDocsError(
            f"livedocs can run .py scripts and .ipynb notebooks, not {rel!r}", where=where
        )
    kind = "notebook" if path.suffix == ".ipynb" else "script"
    header = item_header(config.root, rel)
    item = Item(id=rel, kind=kind, path=rel, timeout_s=config.timeout_s)  # type: ignore[arg-type]
    if "timeout" in header:
        try:
            item.timeout_s = float(header["timeout"])
        except ValueError:
            raise LiveDocsError(
                f"timeout must be a number of seconds, got {header['timeout']!r}", where=rel
            ) from None
    if header.get("inputs"):
        item.inputs = [p for p in header["inputs"].split(",") if p]
    return item


def _item_key(config: EngineConfig, item: Item, env_fp: str, cli_fp: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{env_fp}|{item.kind}|{item.id}|{item.allow_error}".encode())
    if item.screenshots:
        # Its screenshots are part of its result: a new or changed view runs it again.
        from mltrack.livedocs.screenshots import screenshots_fingerprint

        digest.update(screenshots_fingerprint(item.screenshots).encode())
    if item.path:
        digest.update((config.root / item.path).read_bytes())
    if item.kind == "cli":
        digest.update(cli_fp.encode())
    for rel in sorted(item.inputs):
        path = config.root / rel
        if not path.is_file():
            raise LiveDocsError(
                f"declared input {rel!r} does not exist; fix the inputs= header", where=item.id
            )
        digest.update(rel.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _referencable_files(config: EngineConfig) -> list[str]:
    found = []
    for name in config.examples_dirs:
        base = config.root / name
        if base.is_dir():
            for path in sorted(base.rglob("*.py")):
                rel = path.relative_to(config.root)
                if any(part.startswith(("_", ".")) for part in rel.parts):
                    continue  # helpers (_common.py) and caches are not examples
                found.append(str(rel))
    return found


def notebooks(config: EngineConfig) -> list[str]:
    """Notebooks under ``notebooks_dir`` (relative paths), checkpoints excluded."""
    base = config.root / config.notebooks_dir
    if not base.is_dir():
        return []
    return [
        str(p.relative_to(config.root))
        for p in sorted(base.rglob("*.ipynb"))
        if ".ipynb_checkpoints" not in p.parts
    ]


def build_plan(config: EngineConfig, pages: dict[str, str], include_notebooks: bool = True) -> Plan:
    """Collect the items the pages embed, plus every notebook, with their cache keys.

    Args:
        config: engine configuration.
        pages: page path (for messages, e.g. ``docs/guide.md``) -> Markdown source.
        include_notebooks: add every notebook under ``notebooks_dir`` as an item.

    Returns:
        The plan; directive or header mistakes are collected in ``plan.problems``
        (each a :class:`Problem` at ``page:line``) instead of stopping at the first one.
    """
    plan = Plan()
    env_fp = _environment_fingerprint(config)
    cli_fp = ""
    for page, text in sorted(pages.items()):
        try:
            directives = find_directives(page, text)
        except LiveDocsError as exc:
            plan.problems.append(Problem.of(exc, page))
            continue
        for directive in directives:
            _add_directive(config, plan, directive)
    if include_notebooks:
        for rel in notebooks(config):
            if rel not in plan.items:
                try:
                    plan.items[rel] = _make_file_item(config, rel, rel)
                except LiveDocsError as exc:
                    plan.problems.append(Problem.of(exc, rel))
    for item in list(plan.items.values()):
        if item.kind == "cli" and not cli_fp:
            cli_fp = _tree_hash(config.root, config.cli_sources)
        try:
            item.key = _item_key(config, item, env_fp, cli_fp)
        except LiveDocsError as exc:
            # Every block embedding the item shows the problem.
            wheres = [ref.where for ref in item.refs] or [item.id]
            plan.problems += [Problem(where, str(exc)) for where in wheres]
            del plan.items[item.id]
    for item in plan.items.values():
        if item.screenshots:
            from mltrack.livedocs.screenshots import drop_unshot

            drop_unshot(config.cache_path, item)
    referenced = {i.path for i in plan.items.values() if i.refs or i.screenshots}
    plan.unreferenced = [p for p in _referencable_files(config) if p not in referenced]
    return plan


def _snippet_item(config: EngineConfig, directive: Directive) -> Item:
    source = directive.snippet or ""
    folder = config.cache_path / "snippets"
    path = folder / f"{_sha(source.encode())[:20]}.py"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(source)
        os.replace(partial, path)
    rel = os.path.relpath(path, config.root)
    return Item(
        id=directive.where,
        kind="script",
        path=rel,
        timeout_s=config.timeout_s,
        page_line=directive.line,
    )


def _file_item(config: EngineConfig, plan: Plan, rel: str, where: str) -> Item | None:
    """The item of file ``rel`` (planned once however many blocks show it), or ``None``
    with a problem recorded at ``where``."""
    item = plan.items.get(rel)
    if item is None:
        try:
            item = _make_file_item(config, rel, where)
        except LiveDocsError as exc:
            # A header mistake names its own file:line; the block shows it at its line.
            message = exc.message if exc.where == where else str(exc)
            plan.problems.append(Problem(where, message))
            return None
        plan.items[rel] = item
    return item


def _add_screenshot(config: EngineConfig, plan: Plan, directive: Directive) -> None:
    """Attach a ``screenshot:`` block to the item it shows (planned like a file block)."""
    from mltrack.livedocs.screenshots import browser_problem

    rel = Path(os.path.normpath(directive.options["of"])).as_posix()
    item = _file_item(config, plan, rel, directive.where)
    if item is None:
        return
    plan.item_ids[directive.where] = item.id
    missing = browser_problem()
    if missing is not None:
        # Not taken, and not part of the item's key: once Chromium is there, the
        # example runs again and the screenshot is taken.
        plan.problems.append(Problem(directive.where, missing))
        return
    item.screenshots.append(directive)


def _add_directive(config: EngineConfig, plan: Plan, directive: Directive) -> None:
    plan.directives.append(directive)
    item: Item | None
    if directive.screenshot is not None:
        _add_screenshot(config, plan, directive)
        return
    if directive.snippet is not None:
        item = _snippet_item(config, directive)
        plan.items[item.id] = item
    elif directive.cli:
        item_id = f"cli:{directive.cli}"
        item = plan.items.get(item_id)
        if item is None:
            item = Item(id=item_id, kind="cli", command=directive.cli, timeout_s=config.timeout_s)
            plan.items[item_id] = item
        item.allow_error = item.allow_error or directive.options.get("allow_error") == "true"
    else:
        rel = Path(os.path.normpath(directive.file or "")).as_posix()
        if rel.endswith(".ipynb"):
            message = (
                f"notebooks are pages of their own; put {rel!r} under "
                f"{config.notebooks_dir}/ instead of embedding it"
            )
            plan.problems.append(Problem(directive.where, message))
            return
        item = _file_item(config, plan, rel, directive.where)
        if item is None:
            return
    item.refs.append(directive)
    plan.item_ids[directive.where] = item.id
