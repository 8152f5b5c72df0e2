"""Benchmark: the built docs site as readers load it (issue 9).

Builds the site once (``mkdocs build`` into a temporary directory; ``--strict`` with
``--strict``) or takes ``$MLTRACK_SITE_DIR``, serves it on 127.0.0.1 and loads every
page in headless Chromium with a cold cache, one page at a time so the timings are not
shared between pages. Reports the time to the ``load`` event (p50/max, goal < 2 s per
page) and the bytes each page transfers, gzip-compressed as any real host serves them
(flagging pages over 1.5 MB).

Also compares the browser's CPU per page load with the search worker the site ships
(index built on the first search, scripts/mkdocs_hooks/search_worker.py) against the
same site serving a worker that builds the index on every load, as Material's does:
a sample of pages in one tab, the two variants alternated, Chromium's processes summed.

    uv run python scripts/bench/site.py [--strict] [--concurrency N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (first: takes scripts/bench off sys.path)
from _common import cpu_s, emit, process_tree, result

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import material  # noqa: E402
import sitekit  # noqa: E402  (lives with the browser tests, which share it)

_SAMPLE_PAGES = 16


def _chromium_cpu_s() -> float:
    """CPU seconds of the processes below this one (Chromium's, Playwright's driver)."""
    return cpu_s(process_tree(os.getpid())[1:])


def _eager_worker_copy(site_dir: Path, into: Path) -> Path:
    """A copy of the site whose search worker builds the index on every page load."""
    hook = sitekit.search_worker_hook()
    copy = into / "site-eager-index"
    shutil.copytree(site_dir, copy)
    shipped = Path(material.__file__).parent / "templates/assets/javascripts/workers"
    for worker in copy.glob("assets/javascripts/workers/search.*.min.js"):
        # Material's own worker of the same name, with only lunr's bug fixed.
        worker.write_text(hook._fix_tokenset((shipped / worker.name).read_text()))
    return copy


def _search_worker_cpu(site_dir: Path, paths: list[str], chromium: str) -> dict[str, float]:
    """Chromium CPU for the same pages: shipped worker vs. one indexing on every load."""
    from playwright.sync_api import sync_playwright

    step = max(1, len(paths) // _SAMPLE_PAGES)
    sample = paths[::step][:_SAMPLE_PAGES]
    cpu = {"lazy": 0.0, "eager": 0.0}
    with tempfile.TemporaryDirectory(prefix="mltrack-site-bench-") as tmp:
        eager_dir = _eager_worker_copy(site_dir, Path(tmp))
        with (
            sitekit.serve(site_dir) as lazy,
            sitekit.serve(eager_dir) as eager,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=chromium, args=sitekit.CRAWL_ARGS)
            try:
                page = browser.new_page()
                for _ in range(2):  # alternated, so a drifting machine hits both alike
                    for name, server in (("lazy", lazy), ("eager", eager)):
                        before = _chromium_cpu_s()
                        for path in sample:
                            page.goto(server.base_url + path, wait_until="load")
                            page.wait_for_timeout(300)  # what runs after `load`
                        cpu[name] += _chromium_cpu_s() - before
            finally:
                browser.close()
    return {"pages": len(sample) * 2, "lazy_cpu_s": cpu["lazy"], "eager_cpu_s": cpu["eager"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="build with --strict")
    parser.add_argument("--concurrency", type=int, default=1, help="pages loaded at once")
    args = parser.parse_args()

    chromium = sitekit.find_chromium()
    if chromium is None:
        sys.exit("site bench: Chromium not found; run `make chromium` or set MLTRACK_CHROMIUM")
    tmp = None
    build_s = None
    given = os.environ.get("MLTRACK_SITE_DIR")
    try:
        if given:
            site_dir = Path(given)
            if not (site_dir / "index.html").is_file():
                sys.exit(f"site bench: MLTRACK_SITE_DIR={given} has no index.html")
        else:
            tmp = Path(tempfile.mkdtemp(prefix="mltrack-site-bench-"))
            site_dir = tmp / "site"
            start = time.perf_counter()
            built = sitekit.build_site(site_dir, strict=args.strict)
            build_s = time.perf_counter() - start
            if built.returncode != 0:
                tail = "\n".join((built.stdout + built.stderr).splitlines()[-20:])
                sys.exit(f"site bench: mkdocs build failed (exit {built.returncode}):\n{tail}")
        paths = sitekit.page_paths(site_dir)
        with sitekit.serve(site_dir) as server:
            start = time.perf_counter()
            reports = sitekit.crawl(
                server.base_url, paths, concurrency=args.concurrency, chromium=chromium
            )
            crawl_s = time.perf_counter() - start
        worker_cpu = _search_worker_cpu(site_dir, paths, chromium)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    summary = sitekit.summarize(reports)
    limit_mb = sitekit.HEAVY_PAGE_BYTES / 1e6
    slowest = sorted(reports, key=lambda r: -r.load_s)[:5]
    heaviest = sorted(reports, key=lambda r: -r.bytes)[:5]
    emit(
        "site",
        [
            result("load_p50_s", summary["load_p50_s"], "s", f"<= {sitekit.MAX_LOAD_S}"),
            result("load_max_s", summary["load_max_s"], "s", f"<= {sitekit.MAX_LOAD_S}"),
            result("bytes_p50_mb", summary["bytes_p50"] / 1e6, "MB"),
            result("bytes_max_mb", summary["bytes_max"] / 1e6, "MB", f"<= {limit_mb}"),
            result("pages_over_1_5_mb", len(summary["heavy_pages"]), "pages", "<= 0"),
            result(
                "page_cpu_ratio_vs_index_on_load",
                worker_cpu["lazy_cpu_s"] / worker_cpu["eager_cpu_s"],
                "x",
            ),
        ],
        {
            "pages": summary["pages"],
            "concurrency": args.concurrency,
            "build_s": None if build_s is None else round(build_s, 1),
            "crawl_s": round(crawl_s, 1),
            "bytes_total": summary["bytes_total"],
            "slowest": {"/" + r.path: r.load_s for r in slowest},
            "heaviest": {"/" + r.path: r.bytes for r in heaviest},
            "heavy_pages": summary["heavy_pages"],
            "pages_with_problems": sum(1 for r in reports if r.problems),
            "search_worker_cpu": {k: round(v, 2) for k, v in worker_cpu.items()},
        },
    )


if __name__ == "__main__":
    main()
