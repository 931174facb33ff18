"""Checks of ``bench/lookup_http.py`` before timing: answers over HTTP against the
in-process index, personal fields by role, and wrk scripts that send a key."""

from __future__ import annotations

import http.client
import json

from lookup_points import Points

from gis.query.lookup import GridIndex


def check_answers(
    port: int, index: GridIndex, points: Points, sample: int, key: str | None = None
) -> dict[str, int]:
    """Request ``sample`` points one by one (with API key ``key``, if given); compare with
    the in-process index.

    Raises ``RuntimeError`` listing the first mismatches.
    """
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    problems: list[str] = []
    counts = {"covered": 0, "uncovered": 0}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        for i in range(min(sample, len(points.lon))):
            conn.request("GET", points.path(i), headers=headers)
            response = conn.getresponse()
            body = response.read()
            where = f"point {i} ({points.lon[i]:.6f}, {points.lat[i]:.6f})"
            kind = response.getheader("content-type", "")
            if response.status != 200 or not kind.startswith("application/json"):
                problems.append(f"{where}: HTTP {response.status} {kind} {body[:200]!r}")
                continue
            answer = json.loads(body)
            g = int(points.found[i])
            if g >= 0:
                counts["covered"] += 1
                expected = index.describe(g)
                got = {k: (answer.get(k) or {}).get("code") for k in expected}
                want = {k: (v or {}).get("code") for k, v in expected.items()}
                if answer.get("covered") is not True or got != want:
                    problems.append(
                        f"{where}: expected {want}, got covered={answer.get('covered')} {got}"
                    )
            else:
                counts["uncovered"] += 1
                (near,), (metres,) = index.nearest(points.lon[i : i + 1], points.lat[i : i + 1])
                want_code = index.grids[near]["code"]
                nearest = answer.get("nearest") or {}
                got_code = (nearest.get("grid") or {}).get("code")
                distance = nearest.get("distance_m")
                if (
                    answer.get("covered") is not False
                    or answer.get("grid") is not None
                    or got_code != want_code
                    or distance is None
                    or abs(distance - round(metres, 2)) > 0.011
                ):
                    problems.append(
                        f"{where}: expected nearest {want_code} at {metres:.2f} m, "
                        f"got covered={answer.get('covered')} {got_code} at {distance} m"
                    )
            if answer.get("version") != index.version:
                problems.append(f"{where}: version {answer.get('version')} != {index.version}")
    finally:
        conn.close()
    if problems:
        raise RuntimeError(
            f"{len(problems)} wrong answers over HTTP, e.g.:\n  " + "\n  ".join(problems[:10])
        )
    return counts


def check_roles(port: int, path: str, keys: dict[str, str]) -> None:
    """The grid worker of a covered point as each caller sees it: none anonymous, masked
    for a viewer, whole for an editor (``gis.access.privacy``); ``RuntimeError`` otherwise."""
    seen = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        for role, key in {"anonymous": "", **keys}.items():
            conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
            response = conn.getresponse()
            body = response.read()
            ok = response.status == 200
            seen[role] = json.loads(body)["grid"]["grid_worker"] if ok else response.status
    finally:
        conn.close()
    name = seen["editor"]
    if not (seen["anonymous"] is None and name and "*" in seen["viewer"] and "*" not in name):
        raise RuntimeError(f"grid workers by role: {seen}")


def keyed_script(script: str, key: str) -> str:
    """A wrk script that sends ``key`` with every request."""
    return f'wrk.headers["Authorization"] = "Bearer {key}"\n{script}'
