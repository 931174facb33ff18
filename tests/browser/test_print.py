"""Printed maps made by real Chromium (issue 15 §6): ``GET /api/v1/print`` of the demo city
as PDF and PNG, read back — page size, the title as text, fonts embedded, pixels at the
paper's size — and the workbench's print page driven as a clerk would."""

from __future__ import annotations

import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx2 as httpx
import pytest
from PIL import Image
from playwright.sync_api import Page
from pypdf import PdfReader
from sqlalchemy import Engine

from gis.access.auth import create_key
from gis.errors import RenderTimedOut
from gis.web.print_page import Sheet, render

from browser import ARTIFACTS, PageLog, screenshot

STREET = "130227001"
PT = 72 / 25.4
"""PDF points a millimetre."""


@pytest.fixture(scope="module")
def key(engine: Engine) -> str:
    """A viewer key of the database ``app_server`` serves."""
    with engine.begin() as conn:
        return create_key(conn, role="viewer", name="print-test")


def _print(app_server: str, key: str, **params: Any) -> httpx.Response:
    answer = httpx.get(
        f"{app_server}/api/v1/print",
        params=params,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )
    return answer


def _keep(name: str, data: bytes) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(data)


def _fonts(resources: Any) -> Iterator[Any]:
    """Every font a page's resources use, in form XObjects and Type 3 glyphs too."""
    resources = resources.get_object() if resources is not None else {}
    for font in (resources.get("/Font") or {}).values():
        font = font.get_object()
        yield font
        yield from _fonts(font.get("/Resources"))
    for xobject in (resources.get("/XObject") or {}).values():
        yield from _fonts(xobject.get_object().get("/Resources"))


def _embedded(font: Any) -> bool:
    """A Type 3 font is its glyph procedures; any other carries its font file."""
    if font["/Subtype"] == "/Type3":
        return bool(font["/CharProcs"])
    if font["/Subtype"] == "/Type0":
        font = font["/DescendantFonts"][0].get_object()
    descriptor = font["/FontDescriptor"].get_object()
    return any(name in descriptor for name in ("/FontFile", "/FontFile2", "/FontFile3"))


def _pdf_page(answer: httpx.Response, width_mm: int, height_mm: int) -> Any:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(answer.content))
    assert len(reader.pages) == 1
    page = reader.pages[0]
    assert float(page.mediabox.width) == pytest.approx(width_mm * PT, abs=1)
    assert float(page.mediabox.height) == pytest.approx(height_mm * PT, abs=1)
    return page


def test_a_pdf_of_the_city_is_one_a4_landscape_page_with_its_title_and_fonts(
    app_server: str, key: str
) -> None:
    title = "迁西县网格分布图"
    answer = _print(app_server, key, view="/maps", title=title, paper="A4")
    _keep("print-city-a4-landscape.pdf", answer.content)
    page = _pdf_page(answer, 297, 210)  # 842 × 595 pt
    assert page.mediabox.width == pytest.approx(842, abs=1)
    assert page.mediabox.height == pytest.approx(595, abs=1)
    text = page.extract_text()
    for words in (title, "图例", "户数在标准内", "党群服务中心", "北", "边界版本", "数据来源"):
        assert words in text, words
    fonts = list(_fonts(page["/Resources"]))
    assert fonts and all(_embedded(f) for f in fonts)
    disposition = answer.headers["content-disposition"]
    assert disposition == (
        "attachment; filename=\"map.pdf\"; filename*=UTF-8''"
        "%E8%BF%81%E8%A5%BF%E5%8E%BF%E7%BD%91%E6%A0%BC%E5%88%86%E5%B8%83%E5%9B%BE.pdf"
    )
    assert answer.headers["x-gridmap-version"] == "1"


def test_a_pdf_of_a_street_on_a3_portrait(app_server: str, key: str) -> None:
    answer = _print(
        app_server,
        key,
        view=f"/maps/region/{STREET}?colour_by=coverage",
        title="栗乡街道服务覆盖",
        paper="A3",
        orientation="portrait",
    )
    _keep("print-street-a3-portrait.pdf", answer.content)
    page = _pdf_page(answer, 297, 420)  # 842 × 1191 pt
    text = page.extract_text()
    assert "栗乡街道服务覆盖" in text and "山庄里社区" in text  # a community's label
    assert "≥ 95 %" in text  # the coverage legend, moved from the view


def test_a_pdf_of_the_vector_map_holds_its_picture(app_server: str, key: str) -> None:
    answer = _print(app_server, key, view="/maps/vector", title="矢量地图")
    _keep("print-vector.pdf", answer.content)
    page = _pdf_page(answer, 297, 210)
    (picture,) = [i.image for i in page.images if i.image.width > 1000]  # 192 dpi
    low, high = zip(*picture.convert("RGB").getextrema(), strict=True)
    assert max(high) - min(low) > 100  # drawn, not blank (Chromium prints WebGL blank)


@pytest.mark.parametrize(
    ("paper", "orientation", "dpi"), [("A4", "landscape", 150), ("A3", "portrait", 300)]
)
def test_a_png_has_the_papers_pixels_at_its_dpi(
    app_server: str, key: str, paper: str, orientation: str, dpi: int
) -> None:
    answer = _print(
        app_server,
        key,
        view=f"/maps/region/{STREET}",
        title="栗乡街道",
        paper=paper,
        orientation=orientation,
        format="png",
        dpi=dpi,
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    _keep(f"print-{paper}-{orientation}-{dpi}.png", answer.content)
    image = Image.open(io.BytesIO(answer.content))
    width, height = Sheet(paper, orientation).png_px(dpi)  # type: ignore[arg-type]
    assert image.size == (width, height)
    assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.1)
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 100  # a map, not a blank sheet
    assert (
        "filename*=UTF-8''%E6%A0%97%E4%B9%A1%E8%A1%97%E9%81%93.png"
        in answer.headers["content-disposition"]
    )


def test_a_view_that_does_not_open_is_refused(app_server: str, key: str) -> None:
    answer = _print(app_server, key, view="/maps/region/999999999")
    assert answer.status_code == 422
    error = answer.json()
    assert error["code"] == "invalid_view"
    assert error["message"].startswith("要打印的地图未能打开: 404")
    assert error["details"]["view"] == "/maps/region/999999999"


def test_an_online_base_map_is_not_fetched_and_the_print_still_finishes(
    app_server: str, key: str
) -> None:
    answer = _print(app_server, key, view=f"/maps/region/{STREET}?basemap=osm", format="png")
    assert answer.status_code == 200  # its tiles refused, not waited for


def test_a_print_past_its_time_limit_is_a_timeout(app_server: str) -> None:
    sheet = Sheet("A4", "landscape")
    with ThreadPoolExecutor(1) as pool:  # the module's browser holds this thread's Playwright
        future = pool.submit(render, app_server, "/maps/print?view=/maps", sheet, "pdf", 96, 0.3)
        with pytest.raises(RenderTimedOut) as late:
            future.result()
    assert late.value.code == "print_timeout"
    assert "打印超时" in late.value.message


def test_the_workbench_prints_a_street_as_pdf_and_png(
    app_server: str, key: str, page: Page, page_log: PageLog
) -> None:
    page.goto(f"{app_server}/workbench/print?key={key}")
    page.wait_for_selector(f'#print-region option[value="{STREET}"]', state="attached")
    page.wait_for_selector('[data-testid="print-preview"][data-state="loaded"]')  # the first
    page.get_by_test_id("print-view").select_option("region")
    page.get_by_test_id("print-region").select_option(STREET)
    page.get_by_test_id("print-title").fill("栗乡街道网格分布图")
    page.get_by_test_id("print-orientation").select_option("portrait")
    page.wait_for_selector('[data-testid="print-preview"][data-state="loaded"]')
    sheet = page.frame_locator("#print-frame")
    sheet.locator("body[data-ready]").wait_for(state="attached", timeout=30_000)
    assert sheet.get_by_test_id("print-title").text_content() == "栗乡街道网格分布图"
    screenshot(page, "workbench-print")

    with page.expect_download(timeout=60_000) as pdf:
        page.get_by_test_id("print-pdf").click()
    assert pdf.value.suggested_filename == "栗乡街道网格分布图.pdf"
    reader = PdfReader(pdf.value.path())
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == pytest.approx((595, 842), abs=1)
    assert "栗乡街道网格分布图" in reader.pages[0].extract_text()

    page.get_by_test_id("print-dpi").select_option("96")
    with page.expect_download(timeout=60_000) as png:
        page.get_by_test_id("print-png").click()
    assert png.value.suggested_filename == "栗乡街道网格分布图.png"
    image = Image.open(png.value.path())
    assert image.size == Sheet("A4", "portrait").png_px(96)
    assert "已生成" in page.get_by_test_id("print-message").text_content()
    assert page_log.problems() == {}


def test_a_map_pages_print_link_opens_the_print_page_on_that_view(
    app_server: str, key: str, page: Page, page_log: PageLog
) -> None:
    page.goto(f"{app_server}/maps/region/{STREET}?colour_by=coverage&key={key}")
    page.locator("a.gm-print-link").click()
    page.wait_for_url(f"{app_server}/workbench/print?view=*")
    page.wait_for_function(f"() => document.getElementById('print-region').value === '{STREET}'")
    assert page.get_by_test_id("print-view").input_value() == "region"
    assert page.get_by_test_id("print-colour").input_value() == "coverage"
    page.wait_for_selector('[data-testid="print-preview"][data-state="loaded"]')
    sheet = page.frame_locator("#print-frame")
    sheet.locator("body[data-ready]").wait_for(state="attached", timeout=30_000)
    view = sheet.locator("#gm-view").get_attribute("data-src")
    assert view == f"/maps/region/{STREET}?colour_by=coverage"
    assert sheet.frame_locator("#gm-view").locator("a.gm-print-link").is_hidden()
    assert page_log.problems() == {}
