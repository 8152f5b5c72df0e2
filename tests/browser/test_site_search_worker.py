"""The search worker the site ships carries both changes of scripts/mkdocs_hooks/search_worker.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import material
import pytest
from sitekit import search_worker_hook

hook = search_worker_hook()

# Runs a worker script in Node with the few worker globals it uses, sends it Material's
# messages (0 = setup with the index, 2 = query) and prints, after each, the reply and
# how many times the index's documents had been read (lunr reads them to build its index).
_DRIVER = r"""
const fs = require("fs");
const [source, steps] = [fs.readFileSync(process.argv[2], "utf8"), JSON.parse(process.argv[3])];
let handler = null;
const replies = [];
Object.assign(globalThis, {
  self: globalThis,
  addEventListener: (type, fn) => { handler = fn; },
  postMessage: (message) => replies.push(message),
  importScripts: () => {},
});
new Function(source)();
let reads = 0;
const docs = [
  { location: "guides/team-setup/", title: "Team setup", text: "PostgreSQL behind the team server" },
  { location: "guides/serving/", title: "Serving", text: "one command serves a registered model" },
];
const index = {
  config: { lang: ["en"], separator: "[\\s\\-]+", pipeline: ["stopWordFilter"],
            fields: { title: { boost: 1000 }, text: { boost: 1 } } },
  options: { suggest: false },
  get docs() { reads += 1; return docs; },
};
(async () => {
  for (const [type, query] of steps) {
    await handler({ data: type === 0 ? { type, data: index } : { type, data: query } });
    const reply = replies.pop();
    const found = reply.data ? reply.data.items.map((group) => group[0].location) : null;
    console.log(JSON.stringify({ type: reply.type, found, reads }));
  }
})();
"""


def _material_worker() -> str:
    workers = sorted(
        (Path(material.__file__).parent / "templates/assets/javascripts/workers").glob(
            "search.*.min.js"
        )
    )
    assert workers, "Material ships no search worker"
    return workers[0].read_text(encoding="utf-8")


def _drive(source: str, steps: list[tuple[int, str]], tmp_path: Path) -> list[dict[str, object]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (it runs the search worker outside a browser)")
    worker = tmp_path / "worker.js"
    worker.write_text(source, encoding="utf-8")
    driver = tmp_path / "driver.js"
    driver.write_text(_DRIVER, encoding="utf-8")
    done = subprocess.run(
        [node, str(driver), str(worker), json.dumps(steps)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_patch_is_applied_once_and_a_rebuild_is_a_no_op() -> None:
    original = _material_worker()
    patched = hook.patch_worker(original)
    assert patched != original
    assert patched.count('.id+"\\u0000"}return') == 1  # lunr's TokenSet strings
    assert patched.count(hook._LAZY_MARK + "=") == 1  # the index data kept for later
    assert hook.patch_worker(patched) == patched  # a rebuild (mkdocs serve) is a no-op


def test_unknown_worker_shapes_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="update scripts/mkdocs_hooks/search_worker.py"):
        hook.patch_worker("t.TokenSet.prototype.toString=function(){return this.id}")
    tokenset_only = hook._fix_tokenset(_material_worker()).replace("case 0:", "case 9:")
    with pytest.raises(ValueError, match="setup and query messages"):
        hook.patch_worker(tokenset_only)


def test_the_index_is_built_on_the_first_query_not_when_the_page_loads(tmp_path: Path) -> None:
    steps = [(0, ""), (2, ""), (2, "  "), (2, "postgres"), (2, "registered")]
    replies = _drive(hook.patch_worker(_material_worker()), steps, tmp_path)
    assert [r["type"] for r in replies] == [1, 3, 3, 3, 3]  # ready, then four results
    # Setup and the empty queries a page sends read no document: nothing is indexed yet.
    assert [r["reads"] for r in replies[:3]] == [0, 0, 0]
    assert replies[1]["found"] == replies[2]["found"] == []
    # The first real query builds the index once; later queries reuse it.
    assert replies[3] == {"type": 3, "found": ["guides/team-setup/"], "reads": 1}
    assert replies[4] == {"type": 3, "found": ["guides/serving/"], "reads": 1}


def test_material_builds_the_index_on_setup_without_the_patch(tmp_path: Path) -> None:
    # The same driver on Material's own worker: the index is read at setup. This keeps
    # the test above honest (its driver does see an eager build).
    replies = _drive(_material_worker(), [(0, ""), (2, "postgres")], tmp_path)
    assert replies[0] == {"type": 1, "found": None, "reads": 1}
    assert replies[1]["found"] == ["guides/team-setup/"]


def test_the_built_site_ships_the_patched_worker(site_dir: Path) -> None:
    [worker] = list(site_dir.glob("assets/javascripts/workers/search.*.min.js"))
    shipped = worker.read_text(encoding="utf-8")
    assert hook._LAZY_MARK in shipped
    assert hook.patch_worker(shipped) == shipped, (
        "the site's search worker is not patched (is the hook listed in mkdocs.yml?)"
    )
