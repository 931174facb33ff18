"""Long coordinate arrays reprojected in two halves at once (gis.geo.halves) give the numbers
one call gives, in order — through the upload's own path (``to_wgs84``); an upload's
geometries checked for validity in halves, the findings of one check."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from gis.geo import halves
from gis.geo.crs import from_wgs84, parse_crs, to_wgs84
from gis.geo.halves import SPLIT_AT, SPLIT_GEOMETRIES_AT, in_halves
from gis.ingest import validation
from gis.ingest.candidates import Candidate, Tolerances

pytestmark = pytest.mark.unit


def _gauss_kruger(count: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """EPSG:4527 (CGCS2000 / 3-degree Gauss-Kruger zone 39) eastings and northings, a few
    far outside the zone (PROJ answers inf or a wild number: the same in halves)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(39_300_000, 39_700_000, count)
    y = rng.uniform(2_500_000, 5_500_000, count)
    x[::100_003] = 1e12
    return x, y


def test_halves_give_the_numbers_of_one_call() -> None:
    transform = Transformer.from_crs(4527, 4326, always_xy=True).transform
    x, y = _gauss_kruger(SPLIT_AT + 3)
    threads: set[str] = set()

    def noted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        threads.add(threading.current_thread().name)
        return transform(a, b)

    lon, lat = in_halves(noted, x, y)
    whole = transform(x, y)
    np.testing.assert_array_equal(lon, whole[0])
    np.testing.assert_array_equal(lat, whole[1])
    assert len(threads) == 2  # the worker's half and the caller's


def test_short_arrays_stay_in_the_callers_thread() -> None:
    seen: list[str] = []

    def noted(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        seen.append(threading.current_thread().name)
        return a, b

    in_halves(noted, np.zeros(SPLIT_AT - 1), np.zeros(SPLIT_AT - 1))
    assert seen == [threading.current_thread().name]


def test_an_uploads_polygons_reprojected_in_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = _gauss_kruger(60_000 * 5, seed=11)
    x[::100_003] = 39_500_000.0  # every ring closes on real coordinates
    rings = np.stack([x, y], axis=1).reshape(60_000, 5, 2)
    rings[:, 4] = rings[:, 0]
    polygons = shapely.polygons(rings)
    spec = parse_crs("EPSG:4527")
    monkeypatch.setattr(halves, "SPLIT_AT", 10**12)
    whole = to_wgs84(polygons, spec)
    monkeypatch.setattr(halves, "SPLIT_AT", 1_000)
    split = to_wgs84(polygons, spec)
    assert shapely.equals_exact(whole, split, tolerance=0).all()
    halved: list[int] = []
    submit = halves._WORKER.pool.submit
    monkeypatch.setattr(
        halves._WORKER.pool, "submit", lambda *a, **k: halved.append(1) or submit(*a, **k)
    )
    back = from_wgs84(split, spec)  # the CRS doctor's way back, in halves too
    assert halved
    monkeypatch.setattr(halves, "SPLIT_AT", 10**12)
    assert shapely.equals_exact(back, from_wgs84(split, spec), tolerance=0).all()


def _bowtie(x: float) -> shapely.Geometry:
    return shapely.Polygon([(x, 0), (x + 1, 1), (x + 1, 0), (x, 1), (x, 0)])


def test_validity_in_halves_is_one_calls() -> None:
    """Invalid polygons and missing geometries on both sides of the split, and at it."""
    count = SPLIT_GEOMETRIES_AT + 5
    geometries = np.array([shapely.box(i, 0, i + 1, 1) for i in range(count)], dtype=object)
    half = count // 2
    for i in (0, 7, half - 1, half, count - 1):
        geometries[i] = _bowtie(i)
    geometries[half + 1] = None
    threads: set[str] = set()

    def noted(a: np.ndarray) -> np.ndarray:
        threads.add(threading.current_thread().name)
        return shapely.is_valid(a)

    split = in_halves(noted, geometries, at=SPLIT_GEOMETRIES_AT)
    np.testing.assert_array_equal(split, shapely.is_valid(geometries))
    assert len(threads) == 2 and (~split).sum() == 6


def test_an_uploads_validity_findings_in_halves(monkeypatch: pytest.MonkeyPatch) -> None:
    def findings() -> list[tuple[str, str | None]]:
        candidates = [
            Candidate(i, f"11010100{i:04d}", f"网格{i}", None, _bowtie(i) if i % 3 else box)
            for i, box in enumerate(shapely.box(i, 0, i + 1, 1) for i in range(9))
        ]
        found = validation.validate(candidates, level="county", parents={}, tolerances=Tolerances())
        return [(p.kind, p.code) for p in found.problems]

    whole = findings()
    monkeypatch.setattr(validation, "SPLIT_GEOMETRIES_AT", 2)
    assert findings() == whole and sum(k == "invalid_geometry" for k, _ in whole) == 6


def test_a_forked_child_converts_in_halves_too() -> None:
    """The parent's worker thread does not come along into a forked child: it makes its
    own (else the child would wait for a thread that does not exist)."""
    import os

    transform = Transformer.from_crs(4527, 4326, always_xy=True).transform
    x, y = _gauss_kruger(SPLIT_AT + 1)
    expected = transform(x, y)
    in_halves(transform, x, y)  # the parent's thread started
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports by its exit status
        lon, lat = in_halves(transform, x, y)
        os._exit(0 if (lon == expected[0]).all() and (lat == expected[1]).all() else 1)
    for _ in range(600):  # a child that waits for the parent's thread would wait forever
        done, status = os.waitpid(child, os.WNOHANG)
        if done:
            break
        threading.Event().wait(0.05)
    else:
        os.kill(child, 9)
        os.waitpid(child, 0)
        pytest.fail("the forked child never finished its halves")
    assert os.waitstatus_to_exitcode(status) == 0
