"""The one kind of finding in an upload's report: :class:`Problem`, for every kind of upload.

A problem has a ``kind`` (its stable code), a ``severity`` (``error`` blocks a commit,
``warning`` does not), the 1-based ``feature`` number of the file, a message in Chinese and
English and, where it helps, the feature's ``code``, a ``location`` [lon, lat], the offending
``geometry`` (GeoJSON, EPSG:4326, 1e-7°) and its ``area_m2``; ``details`` add what a kind needs
(``parent_code``, ``other_code``, ``fit`` …).  A point layer's problems (centres, cameras,
roads) name the ``attribute`` at fault instead of a code and a location — the keys their
reports have always had.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import shapely
from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

Severity = Literal["error", "warning"]
MAX_LISTED = 1000
"""A report lists at most this many problems of each kind (the first, by feature); its
counts are always whole.  A registry of millions of rows with one error each would
otherwise make a report of gigabytes that no one reads."""
GEOMETRY_DEG = 1e-7
"""A problem's geometry is shown at this precision (~1 cm)."""


def location_of(geom: BaseGeometry) -> list[float]:
    """[lon, lat] of a point on the geometry (7 decimals), or [] when it is empty."""
    point = geom.point_on_surface() if not geom.is_empty else None
    return [round(point.x, 7), round(point.y, 7)] if point is not None else []


@dataclass
class Problem:
    """One finding of an upload's report (see the module docstring)."""

    kind: str
    severity: Severity
    message: str
    feature: int | None = None
    code: str | None = None
    location: list[float] = field(default_factory=list)
    geometry: BaseGeometry | None = None
    area_m2: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    attribute: str | None = None
    row: bool = False
    """A point layer's row: the problem names its ``attribute`` (or null), no code or location."""

    @property
    def is_error(self) -> bool:
        """Whether the problem blocks a commit."""
        return self.severity == "error"

    def to_dict(self) -> dict[str, Any]:
        """The problem as the report's JSON has it."""
        if self.row:
            return {
                "kind": self.kind,
                "severity": self.severity,
                "feature": self.feature,
                "attribute": self.attribute,
                "message": self.message,
                **self.details,  # a roster's row and column (gis.ingest.roster_uploads)
            }
        found: dict[str, Any] = {
            "kind": self.kind,
            "severity": self.severity,
            "code": self.code,
            "feature": self.feature,
            "message": self.message,
            "location": self.location,
        }
        if self.geometry is not None:
            found["geometry"] = mapping(
                shapely.set_precision(self.geometry, GEOMETRY_DEG, mode="pointwise")
            )
            if not found["location"]:
                found["location"] = location_of(self.geometry)
        if self.area_m2 is not None:
            found["area_m2"] = round(self.area_m2, 3)
        return {**found, **self.details}


def errors(problems: list[Problem]) -> int:
    """How many of ``problems`` block a commit."""
    return sum(p.is_error for p in problems)


def report_problems(problems: list[Problem]) -> list[dict[str, Any]]:
    """Problems as a report lists them: errors first, then by feature and kind."""
    ordered = sorted(problems, key=lambda p: (not p.is_error, p.feature or 0, p.kind))
    return [p.to_dict() for p in ordered]


class ProblemLog:
    """An upload's problems: every one counted, the first :data:`MAX_LISTED` of each kind
    kept for the report (``omitted`` counts the rest, by kind)."""

    def __init__(self, limit: int = MAX_LISTED) -> None:
        self.limit = limit
        self.kept: list[Problem] = []
        self.counts: Counter[tuple[str, bool]] = Counter()

    def add(self, problem: Problem) -> None:
        """Count the problem, and keep it while its kind has fewer than ``limit`` kept."""
        key = (problem.kind, problem.is_error)
        self.counts[key] += 1
        if self.counts[key] <= self.limit:
            self.kept.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        """:meth:`add` each of ``problems``."""
        for problem in problems:
            self.add(problem)

    def tally(self, kind: str, severity: Severity, count: int) -> None:
        """Count ``count`` more problems of ``kind`` found but not made (e.g. counted in SQL
        beyond the ones listed)."""
        self.counts[(kind, severity == "error")] += count

    @property
    def errors(self) -> int:
        """How many problems block a commit."""
        return sum(n for (_, error), n in self.counts.items() if error)

    @property
    def warnings(self) -> int:
        """How many problems do not."""
        return sum(n for (_, error), n in self.counts.items() if not error)

    def omitted(self) -> dict[str, int]:
        """Problems counted but not listed, by kind."""
        return {
            kind: n - self.limit for (kind, _), n in sorted(self.counts.items()) if n > self.limit
        }

    def report(self) -> list[dict[str, Any]]:
        """The kept problems as a report lists them (:func:`report_problems`)."""
        return report_problems(self.kept)
