"""The bad-input catalogue (issue 13), by kind of bad input: text, numbers, bodies, and the
other bad values of each endpoint family.  tests/db/test_bad_input.py sends every case."""

from __future__ import annotations

from .bodies import BODY_CASES
from .builders import Case
from .families import FAMILY_CASES
from .numbers import HUGE_CASES, NONFINITE_CASES, UNICODE_CASES
from .text import LONG_CASES, NUL_CASES

CASES: list[Case] = [
    *NUL_CASES,
    *HUGE_CASES,
    *UNICODE_CASES,
    *BODY_CASES,
    *NONFINITE_CASES,
    *LONG_CASES,
    *FAMILY_CASES,
]

__all__ = ["CASES", "Case"]
