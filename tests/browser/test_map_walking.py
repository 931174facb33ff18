"""The region map draws each centre's service area walked along the roads once roads are
stored (the demo city's are), with the roads under them, and circles before; the legend says
which (gis.web.region_page, gis.network)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from gis.settings import Settings
from gis.store.demo_files import read_roads
from gis.store.seed import load_demo
from gis.web.region_page import RADIUS_NOTE, WALKING_NOTE

from browser import DRAWN_JS, PageLog, screenshot
from support import serve_app, without_roads

COUNTY = "130227"


def _drawn(page_log: PageLog, url: str) -> tuple[dict[str, int], str]:
    page = page_log.page
    page.goto(url)
    page.wait_for_function("() => document.querySelectorAll('path.gm-reach').length")
    page.wait_for_load_state("networkidle")
    return page.evaluate(DRAWN_JS), page.locator(".gm-legend").inner_text()


def test_service_areas_are_walked_once_roads_are_stored(
    fresh_db_url: str,
    fresh_client: TestClient,
    fresh_engine: Engine,
    make_key: Callable[[str], str],
    page_log: PageLog,
    tmp_path: Path,
) -> None:
    without_roads(fresh_engine)
    walked = fresh_client.get(
        "/api/v1/analysis/walking/areas",
        params={"region": COUNTY},
        headers={"Authorization": f"Bearer {make_key('viewer')}"},
    )
    assert walked.status_code == 409
    with serve_app(fresh_db_url, tmp_path / "before.log") as base:
        drawn, legend = _drawn(page_log, f"{base}/maps/region/{COUNTY}")
    centres = drawn["gm-centre"]
    assert drawn["gm-reach"] == centres, "a circle for every centre"
    assert RADIUS_NOTE in legend and WALKING_NOTE not in legend
    assert "gm-road" not in drawn and "道路" not in legend.replace(RADIUS_NOTE, "")

    load_demo(fresh_engine, Settings().demo_dir)  # its roads again
    areas = fresh_client.get(
        "/api/v1/analysis/walking/areas",
        params={"region": COUNTY},
        headers={"Authorization": f"Bearer {make_key('viewer')}"},
    ).json()["features"]
    reaching = sum(1 for f in areas if f["geometry"] is not None)
    with serve_app(fresh_db_url, tmp_path / "after.log") as base:
        drawn, legend = _drawn(page_log, f"{base}/maps/region/{COUNTY}")
        page_log.page.evaluate(
            "() => window[document.querySelector('.folium-map').id].setView([40.163, 118.318], 15)"
        )
        page_log.page.wait_for_load_state("networkidle")
        screenshot(page_log.page, "map-walking-service-areas")
    assert drawn["gm-centre"] == centres
    assert drawn["gm-reach"] == reaching < centres, "areas of the centres that reach a road"
    assert WALKING_NOTE in legend and RADIUS_NOTE not in legend
    assert drawn["gm-road"] == len(read_roads(Settings().demo_dir)), "the roads walked along"
    assert "道路" in legend.replace(WALKING_NOTE, "")
    assert page_log.problems() == {}
