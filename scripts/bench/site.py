"""Benchmark: the built docs site as readers load it (issue 9).

Builds the site once (``mkdocs build`` into a temporary directory; ``--strict`` with
``--strict``) or takes ``$MLTRACK_SITE_DIR``, serves it on 127.0.0.1 and loads every
page in headless Chromium with a cold cache, one page at a time so the timings are not
shared between pages. Reports the time to the ``load`` event (p50/max, goal < 2 s per
page) and the bytes each page transfers, gzip-compressed as any real host serves them
(flagging pages over 1.5 MB).

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
from _common import emit, result

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

import sitekit  # noqa: E402  (lives with the browser tests, which share it)


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
        },
    )


if __name__ == "__main__":
    main()
