"""Printed maps without a browser (gis.web.print_page): which views may be printed and how
they are written back, sheet sizes, file names, and the PNG's stated resolution."""

from __future__ import annotations

import struct
import zlib

import pytest

from gis.errors import InvalidInput
from gis.web.print_page import Sheet, _same_origin, check_view, file_name, with_dpi

GOOD = {
    "/maps": "/maps",
    "/maps?colour_by=coverage": "/maps?colour_by=coverage",
    "/maps/region/130227001?basemap=none&colour_by=households": (
        "/maps/region/130227001?basemap=none&colour_by=households"
    ),
    "/maps/vector": "/maps/vector",
    "/maps/vector?as_of=3": "/maps/vector?as_of=3",
}
BAD = [
    "",
    "maps",
    "http://evil.example/maps",
    "https://127.0.0.1:8000/maps",
    "//evil.example/maps",
    "///maps",
    "javascript:alert(1)",
    "/maps#x",
    "/maps/",
    "/maps/../api/v1/keys",
    "/api/v1/regions",
    "/maps/uploads/1",
    "/maps/print?view=/maps",
    "/maps/region/13022700%2F1",
    "/maps/region/130227001/x",
    "/maps?basemap=o.s.m",
    "/maps?colour_by=coverage&colour_by=households",
    "/maps?key=gm_secret",
    "/maps/vector?as_of=0",
    "/maps/vector?colour_by=coverage",
    "/maps\\evil",
    "/maps?basemap=none\r\nX: y",
    "/maps " + "x",
    "/maps?" + "a" * 400,
]


@pytest.mark.parametrize(("view", "canonical"), GOOD.items())
def test_a_map_page_of_ours_is_taken_and_its_query_rebuilt(view: str, canonical: str) -> None:
    assert check_view(view) == canonical


@pytest.mark.parametrize("view", BAD)
def test_anything_else_is_refused_as_invalid_view(view: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_view(view)
    assert refused.value.code == "invalid_view"
    assert "不能打印" in refused.value.message and "view must be" in refused.value.message


@pytest.mark.parametrize(
    ("paper", "orientation", "mm", "pt"),
    [
        ("A4", "landscape", (297, 210), (841.89, 595.28)),
        ("A4", "portrait", (210, 297), (595.28, 841.89)),
        ("A3", "portrait", (297, 420), (841.89, 1190.55)),
        ("A3", "landscape", (420, 297), (1190.55, 841.89)),
    ],
)
def test_sheets_are_iso_216(paper: str, orientation: str, mm: tuple, pt: tuple) -> None:
    sheet = Sheet(paper, orientation)  # type: ignore[arg-type]
    assert sheet.mm == mm
    assert sheet.css_px == pytest.approx(tuple(v * 96 / 72 for v in pt), abs=0.01)
    assert sheet.png_px(300) == tuple(round(v / 25.4 * 300) for v in mm)


def test_a_file_is_named_by_its_title_without_what_file_systems_refuse() -> None:
    assert file_name("迁西县网格分布图", "pdf") == "迁西县网格分布图.pdf"
    assert file_name('a/b\\c:d*e?f"g<h>i|j\x01k', "png") == "a_b_c_d_e_f_g_h_i_j_k.png"
    assert file_name("..", "pdf") == "地图.pdf"
    assert file_name("长" * 200, "pdf") == "长" * 80 + ".pdf"


def test_a_png_states_its_resolution() -> None:
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    chunk = lambda kind, data: (  # noqa: E731
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    )
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")
    stated = with_dpi(png, 150)
    phys = stated[33 : 33 + 21]
    length, kind, x, y, unit, crc = struct.unpack(">I4sIIBI", phys)
    assert (length, kind, unit) == (9, b"pHYs", 1)
    assert x == y == round(150 / 0.0254)  # 5906 pixels a metre
    assert crc == zlib.crc32(phys[4:17])
    assert stated[:33] == png[:33] and stated[54:] == png[33:]


def test_the_printing_browser_fetches_only_its_own_origin() -> None:
    origin = "http://127.0.0.1:8000"
    assert _same_origin("http://127.0.0.1:8000/vendor/leaflet.js", origin)
    assert _same_origin("data:image/png;base64,AAAA", origin)
    assert _same_origin("blob:http://127.0.0.1:8000/1234", origin)
    assert not _same_origin("http://127.0.0.1:8001/x", origin)
    assert not _same_origin("https://127.0.0.1:8000/x", origin)
    assert not _same_origin("https://tile.openstreetmap.org/1/1/1.png", origin)
    assert not _same_origin("http://127.0.0.1:8000@evil.example/x", origin)
