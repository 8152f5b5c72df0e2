"""The search worker the site ships has lunr's index-minimisation fix (scripts/mkdocs_hooks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import material
import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "search_tokenset", ROOT / "scripts/mkdocs_hooks/search_tokenset.py"
)
assert _spec and _spec.loader
hook = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hook)


def _material_worker() -> str:
    workers = sorted(
        (Path(material.__file__).parent / "templates/assets/javascripts/workers").glob(
            "search.*.min.js"
        )
    )
    assert workers, "Material ships no search worker"
    return workers[0].read_text(encoding="utf-8")


def test_patch_makes_tokenset_strings_unambiguous_once() -> None:
    original = _material_worker()
    patched = hook.patch_worker(original)
    assert patched != original
    assert patched.count('.id+"\\u0000"}return') == 1
    assert len(patched) - len(original) == len('+"\\u0000"')  # nothing else changed
    assert hook.patch_worker(patched) == patched  # a rebuild (mkdocs serve) is a no-op


def test_unknown_worker_shape_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="update scripts/mkdocs_hooks/search_tokenset.py"):
        hook.patch_worker("t.TokenSet.prototype.toString=function(){return this.id}")


def test_the_built_site_ships_the_patched_worker(site_dir: Path) -> None:
    [worker] = list(site_dir.glob("assets/javascripts/workers/search.*.min.js"))
    assert hook.patch_worker(worker.read_text(encoding="utf-8")) == worker.read_text(
        encoding="utf-8"
    ), "the site's search worker is not patched (is the hook listed in mkdocs.yml?)"
