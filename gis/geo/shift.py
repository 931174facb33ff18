"""The GCJ-02 and BD-09 shifts: the two Chinese web-map datums that have no EPSG code.

GCJ-02 (AMap/Tencent) is WGS84 plus an obfuscating offset; BD-09 (Baidu) is GCJ-02 plus a
closed-form twist.  The functions are vectorised with numpy, accept scalars or arrays, and
are the identity for points outside :data:`CHINA_BBOX` (tested on the *input* point).  Their
inverses are exact: a fixed-point iteration of the forward transform until the residual is
below 1e-10° (≈ 0.01 mm), not the usual one-step approximation that is off by metres.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

CHINA_BBOX = (72.004, 0.8293, 137.8347, 55.8271)
"""(west, south, east, north) of the box in which GCJ-02/BD-09 obfuscation applies."""

# GCJ-02: Krasovsky 1940 ellipsoid.
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
# BD-09.
_X_PI = math.pi * 3000.0 / 180.0
_BD_DLON = 0.0065
_BD_DLAT = 0.006
# Exact inverses: stop once the forward transform reproduces the input to this (degrees).
_INVERSE_TOL = 1e-10
_INVERSE_MAX_STEPS = 30


Coord = Any  # a float or a numpy array of floats
Arrays = tuple[np.ndarray, np.ndarray]
PointFunc = Callable[[np.ndarray, np.ndarray], Arrays]


def _prepare(lon: Coord, lat: Coord) -> tuple[np.ndarray, np.ndarray, bool]:
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    scalar = x.ndim == 0 and y.ndim == 0
    x, y = np.broadcast_arrays(x, y)
    return np.array(x, dtype=np.float64), np.array(y, dtype=np.float64), scalar


def _finish(x: np.ndarray, y: np.ndarray, scalar: bool) -> tuple[Coord, Coord]:
    if scalar:
        return float(x), float(y)
    return x, y


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    west, south, east, north = CHINA_BBOX
    return (lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """The GCJ-02 offset (degrees) at a WGS84 point, without the China test."""
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    common = (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    dlat = (
        -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * sqrt_abs_x
        + common
        + (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y / 30.0 * math.pi)) * 2.0 / 3.0
    )
    dlon = (
        300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * sqrt_abs_x
        + common
        + (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    )
    rad_lat = np.radians(lat)
    magic = 1.0 - _GCJ_EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_GCJ_A * (1.0 - _GCJ_EE)) / (magic * sqrt_magic) * math.pi)
    dlon = dlon * 180.0 / (_GCJ_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    return dlon, dlat


def _gcj_forward(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    dlon, dlat = _gcj_delta(lon, lat)
    return lon + dlon, lat + dlat


def _bd_forward(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """GCJ-02 → BD-09 (closed form), without the China test."""
    z = np.hypot(lon, lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + _BD_DLON, z * np.sin(theta) + _BD_DLAT


def _bd_approx_inverse(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    """BD-09 → GCJ-02, Baidu's closed-form approximation (error ≈ 1e-5°)."""
    x = lon - _BD_DLON
    y = lat - _BD_DLAT
    z = np.hypot(x, y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def _wgs_to_bd(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    return _bd_forward(*_gcj_forward(lon, lat))


def _invert(
    forward: PointFunc,
    lon: np.ndarray,
    lat: np.ndarray,
    guess_lon: np.ndarray,
    guess_lat: np.ndarray,
) -> Arrays:
    """Solve ``forward(x, y) == (lon, lat)`` by fixed-point iteration from the guess."""
    x, y = guess_lon, guess_lat
    for _ in range(_INVERSE_MAX_STEPS):
        fx, fy = forward(x, y)
        rx, ry = fx - lon, fy - lat
        x, y = x - rx, y - ry
        if np.max(np.maximum(np.abs(rx), np.abs(ry)), initial=0.0) < _INVERSE_TOL:
            break
    return x, y


def _masked(func: PointFunc, lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """Apply ``func`` to the points inside China's box; the rest pass through unchanged."""
    x, y, scalar = _prepare(lon, lat)
    inside = _in_china(x, y)
    if inside.all():
        x, y = func(x, y)
    elif inside.any():
        x[inside], y[inside] = func(x[inside], y[inside])
    return _finish(x, y, scalar)


def _gcj_to_wgs(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    dlon, dlat = _gcj_delta(lon, lat)
    return _invert(_gcj_forward, lon, lat, lon - dlon, lat - dlat)


def _bd_to_gcj(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    return _invert(_bd_forward, lon, lat, *_bd_approx_inverse(lon, lat))


def _bd_to_wgs(lon: np.ndarray, lat: np.ndarray) -> Arrays:
    glon, glat = _bd_approx_inverse(lon, lat)
    dlon, dlat = _gcj_delta(glon, glat)
    return _invert(_wgs_to_bd, lon, lat, glon - dlon, glat - dlat)


def wgs84_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 → GCJ-02 (AMap/Tencent)."""
    return _masked(_gcj_forward, lon, lat)


def gcj02_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """GCJ-02 → WGS84, exact (iterated to a residual below 1e-10°)."""
    return _masked(_gcj_to_wgs, lon, lat)


def gcj02_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """GCJ-02 → BD-09 (Baidu)."""
    return _masked(_bd_forward, lon, lat)


def bd09_to_gcj02(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """BD-09 → GCJ-02, exact (iterated to a residual below 1e-10°)."""
    return _masked(_bd_to_gcj, lon, lat)


def wgs84_to_bd09(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """WGS84 → BD-09 (Baidu)."""
    return _masked(_wgs_to_bd, lon, lat)


def bd09_to_wgs84(lon: Coord, lat: Coord) -> tuple[Coord, Coord]:
    """BD-09 → WGS84, exact (iterated to a residual below 1e-10°)."""
    return _masked(_bd_to_wgs, lon, lat)
