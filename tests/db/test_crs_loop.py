"""CRS texts pyproj has not seen are parsed off the event loop, and remembered good or bad:
clients sending garbage CRS strings do not hold up other lookups (issue 13)."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

from gis.errors import InvalidInput
from gis.geo.crs import known_crs, parse_crs


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_unknown_crs_texts_do_not_hold_up_other_lookups(app_server: str) -> None:
    """Thirty-two new garbage CRS texts at once, and an ordinary lookup among them. A garbage
    name took pyproj ~0.15 s, holding the GIL, to refuse: with pyproj's name search the
    ordinary lookup waited 1.3 s here. Now it is answered within a second (~0.2 s on a loaded
    two-core machine: each garbage text is refused in a few ms, PROJ's name table read at
    start-up — read by the first garbage name, it held the GIL ~0.3 s and the lookup waited
    1.1–1.4 s)."""
    shapes = ["not a crs @ " * 3, "FOO:@", "+proj=@", "PROJCS[@", "urn:@", "{@", "中国坐标 @"]
    garbage = [shapes[i % len(shapes)].replace("@", uuid.uuid4().hex) for i in range(32)]
    done: dict[str, tuple[float, int]] = {}

    def ask(name: str, crs: str) -> None:
        query = urllib.parse.urlencode({"lon": 118.3, "lat": 40.17, "crs": crs})
        started = time.monotonic()
        status = _get(f"{app_server}/api/v1/lookup?{query}")
        done[name] = (time.monotonic() - started, status)

    _get(f"{app_server}/api/v1/lookup?lon=118.3&lat=40.17")  # the index is loaded
    threads = [threading.Thread(target=ask, args=(f"bad{i}", g)) for i, g in enumerate(garbage)]
    threads.append(threading.Thread(target=ask, args=("good", "wgs84")))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done["good"][1] == 200
    assert all(done[f"bad{i}"][1] == 422 for i in range(32))
    assert done["good"][0] < 1.0, done["good"]


def test_a_refused_crs_text_is_remembered() -> None:
    text = f"no such crs {uuid.uuid4().hex}"
    assert not known_crs(text)
    for _ in range(2):
        try:
            parse_crs(text)
        except InvalidInput as error:
            assert error.code == "unknown_crs"
        else:
            raise AssertionError("parsed garbage")
    assert known_crs(text)
    assert known_crs("gcj02") and known_crs("WGS84")
    long = "x" * 30_000
    try:
        parse_crs(long)
    except InvalidInput as error:
        assert "30000" not in error.message and error.code == "unknown_crs"
