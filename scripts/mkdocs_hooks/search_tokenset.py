"""MkDocs hook: fix lunr's search-index minimisation bug in Material's search worker.

lunr 2.3.9 (bundled in Material's worker) writes a TokenSet node's identity as the final
flag, then each edge label followed by the child's numeric id, with no separator. Once a
node's labels are digits ("v3.17", "403", "p50" in the index), two different nodes can
print the same string (label "1" + id "23" vs. label "1" + id "2" + label "3" + ...),
get merged while the index is minimised, and a prefix query then expands to a term the
index does not have: lunr throws and the search box says "No matching documents" (seen
here: every query starting with "t", "te", "tea" or "team" failed).

After each build this hook ends each edge with a NUL character in the shipped worker,
so the strings are unambiguous. It fails loudly when the code it expects is not there (a
newer Material): check whether lunr still needs the fix, then update or drop the hook.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

# `for(...){var s=r[i],o=this.edges[s];e=e+s+o.id}return e}` in the minified worker.
_TOSTRING = re.compile(
    r"(TokenSet\.prototype\.toString=function\(\)\{.{0,200}?"
    r"(?P<acc>\w+)=(?P=acc)\+(?P<label>\w+)\+(?P<node>\w+)\.id)(?P<end>\}return (?P=acc)\})",
    re.S,
)
_FIXED = '+"\\u0000"'


def patch_worker(source: str) -> str:
    """Return the worker source with an unambiguous ``TokenSet.toString``.

    Raises:
        ValueError: the function is not in the expected shape (nothing to patch safely).
    """
    if _FIXED + "}return" in source:
        return source  # already patched (mkdocs serve rebuilds into the same directory)
    patched, count = _TOSTRING.subn(lambda m: m[1] + _FIXED + m["end"], source)
    if count != 1:
        raise ValueError(
            "Material's search worker no longer has lunr's TokenSet.toString in the expected "
            "form; check whether the index minimisation bug is fixed upstream and update "
            "scripts/mkdocs_hooks/search_tokenset.py"
        )
    return patched


def on_post_build(config: Any, **_: Any) -> None:
    workers = sorted(Path(config["site_dir"]).glob("assets/javascripts/workers/search.*.min.js"))
    if not workers:
        return  # no Material search in this build
    for worker in workers:
        try:
            patched = patch_worker(worker.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PluginError(f"{worker.name}: {exc}") from None
        worker.write_text(patched, encoding="utf-8")
