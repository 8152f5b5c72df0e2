"""MkDocs hook: two changes to Material's search worker, applied to the built site.

1. **lunr's index-minimisation bug.** lunr 2.3.9 (bundled in the worker) writes a TokenSet
   node's identity as the final flag, then each edge label followed by the child's numeric
   id, with no separator. Once a node's labels are digits ("v3.17", "403", "p50" in the
   index), two different nodes can print the same string (label "1" + id "23" vs. label
   "1" + id "2" + label "3" + ...), get merged while the index is minimised, and a prefix
   query then expands to a term the index does not have: lunr throws and the search box
   says "No matching documents" (seen here: every query starting with "t", "te", "tea" or
   "team" failed). Each edge now ends with a NUL character, so the strings are unambiguous.

2. **The index is built on the first search, not on every page load.** Material's worker
   builds the whole lunr index (every page's text) as soon as a page loads, and the page
   then asks it for the empty query. On this site that was about half of the browser's CPU
   for a page load (0.46 of 1 CPU-s here), spent again on every full load, for a search
   most readers never type. The worker now keeps the index data, answers an empty query
   with no results (what lunr answers too) and builds the index on the first real query.

Both patches fail loudly when the code they expect is not there (a newer Material): check
whether they are still needed, then update or drop them here.
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

# The message handler: `case 0:return yield Ie(t.data.config),de=new U(t.data),{type:1};
# case 2:let e=t.data;try{return{type:3,data:de.search(e)}` (SETUP, then QUERY).
_HANDLER = re.compile(
    r"case 0:return yield (?P<langs>\w+)\((?P<msg>\w+)\.data\.config\),"
    r"(?P<search>\w+)=new (?P<cls>\w+)\((?P=msg)\.data\),\{type:1\};"
    r"case 2:let (?P<query>\w+)=(?P=msg)\.data;try\{return\{type:3,data:(?P=search)\.search\((?P=query)\)\}"
)
_LAZY_MARK = "self.__mltrackIndexData"


def _fix_tokenset(source: str) -> str:
    if _FIXED + "}return" in source:
        return source  # already patched (mkdocs serve rebuilds into the same directory)
    patched, count = _TOSTRING.subn(lambda m: m[1] + _FIXED + m["end"], source)
    if count != 1:
        raise ValueError(
            "Material's search worker no longer has lunr's TokenSet.toString in the expected "
            "form; check whether the index minimisation bug is fixed upstream and update "
            "scripts/mkdocs_hooks/search_worker.py"
        )
    return patched


def _lazy_handler(m: re.Match[str]) -> str:
    search, cls, query, msg = m["search"], m["cls"], m["query"], m["msg"]
    return (
        f"case 0:return yield {m['langs']}({msg}.data.config),{search}=void 0,"
        f"{_LAZY_MARK}={msg}.data,{{type:1}};"
        f"case 2:let {query}={msg}.data;try{{"
        f"if(!{search}&&!{query}.trim())return{{type:3,data:{{items:[]}}}};"
        f"{search}={search}||new {cls}({_LAZY_MARK});"
        f"return{{type:3,data:{search}.search({query})}}"
    )


def _index_on_first_query(source: str) -> str:
    if _LAZY_MARK in source:
        return source
    patched, count = _HANDLER.subn(_lazy_handler, source)
    if count != 1:
        raise ValueError(
            "Material's search worker no longer handles its setup and query messages in the "
            "expected form; update scripts/mkdocs_hooks/search_worker.py"
        )
    return patched


def patch_worker(source: str) -> str:
    """Return the worker source with both changes; a patched source comes back unchanged.

    Raises:
        ValueError: the code to change is not in the expected shape (nothing to patch safely).
    """
    return _index_on_first_query(_fix_tokenset(source))


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
