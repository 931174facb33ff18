"""The map scale benchmark in the browser: each page loaded in headless Chromium (a fresh
context per load), timed until every grid is drawn, its paths counted and its guard read
(see ``map_scale``'s docstring). The scripts run in the page are ``map_scale_mark.js`` and
``map_scale_metrics.js``."""

from __future__ import annotations

import gzip
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from common import ROOT
from playwright.sync_api import Browser
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

sys.path.insert(0, str(ROOT / "tests"))
from browser import guarded_page

HERE = Path(__file__).resolve().parent
INIT_JS = (HERE / "map_scale_mark.js").read_text(encoding="utf-8").rstrip("\n")
"""Run before each page loads (selector and count filled in with ``%``): marks
``window.__mapScale`` one animation frame after the frame in which all grids exist."""
METRICS_JS = (HERE / "map_scale_metrics.js").read_text(encoding="utf-8").rstrip("\n")
CLASSES = (
    "gm-county",
    "gm-street",
    "gm-community",
    "gm-grid",
    "gm-reach",
    "gm-centre",
    "gm-camera",
    "gm-sector",
    "gm-blind",
)
SETTLE_S = 30.0
"""How long the (untimed) wait for a page's load event may take before it is a problem."""


@dataclass
class Load:
    """One page load: milliseconds from navigation start, wall seconds, what was drawn."""

    response_start_ms: float
    response_end_ms: float
    seen_ms: float
    drawn_ms: float
    wall_s: float
    counts: dict[str, int]
    paths: int
    labels: int
    nodes: int
    heap_mb: float | None
    problems: dict[str, list[str]]
    load_average: float = 0.0
    """The machine's 1-minute load average as the load started."""

    @property
    def render_ms(self) -> float:
        """From the last byte of the HTML to the frame with every grid drawn."""
        return self.drawn_ms - self.response_end_ms


def load_page(browser: Browser, url: str, n_grids: int, timeout_s: float) -> Load:
    """Load ``url`` in a fresh guarded context until every grid path is drawn; then (not
    timed) until its load event and 0.5 s more, for the guard: a request still pending
    after ``SETTLE_S`` is reported as a problem (``stalled``)."""
    load_average = os.getloadavg()[0]
    context, log = guarded_page(browser)
    pending: set[str] = set()
    try:
        page = log.page
        page.on("request", lambda request: pending.add(request.url))
        page.on("requestfinished", lambda request: pending.discard(request.url))
        page.on("requestfailed", lambda request: pending.discard(request.url))
        page.add_init_script(INIT_JS % (json.dumps("path.gm-grid"), n_grids))
        timeout = timeout_s * 1000
        t0 = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=timeout)
        page.wait_for_function("() => window.__mapScale !== undefined", timeout=timeout)
        wall = time.perf_counter() - t0
        got = page.evaluate(METRICS_JS, list(CLASSES))
        problems: dict[str, list[str]] = {}
        try:
            page.wait_for_load_state("load", timeout=SETTLE_S * 1000)
            page.wait_for_timeout(500)
        except PlaywrightTimeoutError:
            problems["stalled"] = sorted(pending)
        heap = got["heap"]
        return Load(
            got["responseStart"],
            got["responseEnd"],
            got["mark"]["seen"],
            got["mark"]["drawn"],
            wall,
            got["counts"],
            got["paths"],
            got["labels"],
            got["nodes"],
            None if heap is None else heap / 1e6,
            log.problems() | problems,
            load_average,
        )
    finally:
        context.close()


@dataclass
class Page:
    """A page measured in the browser."""

    key: str
    title: str
    url: str
    html_bytes: int
    gzip_bytes: int
    loads: list[Load] = field(default_factory=list)
    server_s: list[float] = field(default_factory=list)
    goal: bool = True  # judged against the goals (gridmap's pages)

    def median(self, attr: str) -> float:
        return statistics.median(getattr(x, attr) for x in self.loads)


def gzip_size(html: str) -> int:
    return len(gzip.compress(html.encode(), compresslevel=6))


def run_loads(
    browser: Browser, pages: list[Page], n_grids: int, loads: int, timeout_s: float
) -> None:
    """``loads`` rounds over ``pages``, each round starting one page later (so that every
    page meets the same conditions: what-ifs and the pages they are compared with alike)."""
    for r in range(loads):
        order = pages[r % len(pages) :] + pages[: r % len(pages)]
        for p in order:
            got = load_page(browser, p.url, n_grids, timeout_s)
            p.loads.append(got)
            print(
                f"  round {r + 1}: {p.title}: drawn {got.drawn_ms:.0f} ms (response end "
                f"{got.response_end_ms:.0f} ms, render {got.render_ms:.0f} ms), wall "
                f"{got.wall_s:.2f} s, grids {got.counts['gm-grid']}, paths {got.paths}"
                + (f", PROBLEMS {got.problems}" if got.problems else ""),
                flush=True,
            )
