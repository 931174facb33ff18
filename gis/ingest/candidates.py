"""What boundary validation works on: uploaded features, their parents, tolerances, findings.

Shared by the file's own checks (``gis.ingest.validation``, ``gis.ingest.topology``) and the
checks against what is stored (``gis.ingest.stored_checks``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shapely.geometry.base import BaseGeometry

from gis.ingest.problems import Problem, Severity, errors


@dataclass(frozen=True)
class Tolerances:
    """Validation tolerances (settings): pieces at or below them are slivers, not errors."""

    overlap_m2: float = 1.0
    gap_m2: float = 1.0
    outside_m2: float = 1.0
    sliver_width_m: float = 0.5


@dataclass(slots=True)
class Candidate:
    """One uploaded feature, mapped to region fields, geometry in EPSG:4326 (slots: a
    province's file makes 1 000 000 of them)."""

    feature: int
    code: str | None
    name: str | None
    parent_code: str | None
    geometry: BaseGeometry | None
    values: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)


def geometries(candidates: Sequence[Candidate]) -> np.ndarray:
    """The candidates' geometries as an object array, for shapely's vectorised functions."""
    return np.array([c.geometry for c in candidates], dtype=object)


@dataclass
class ParentInfo:
    """A parent region as stored at the current version."""

    code: str
    level: str
    geometry: BaseGeometry


@dataclass
class Report:
    """Problems and repairs found by validation."""

    problems: list[Problem] = field(default_factory=list)
    repairs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Number of problems that block a commit."""
        return errors(self.problems)


def problem(
    kind: str,
    severity: Severity,
    candidate: Candidate | None,
    message: str,
    *,
    location: list[float] | None = None,
    geometry: BaseGeometry | None = None,
    area_m2: float | None = None,
    **details: Any,
) -> Problem:
    """A problem of ``candidate`` (or of none, e.g. a gap); ``details`` are added as given."""
    return Problem(
        kind,
        severity,
        message,
        feature=candidate.feature if candidate else None,
        code=candidate.code if candidate else None,
        location=location if location is not None else [],
        geometry=geometry,
        area_m2=area_m2,
        details=details,
    )
