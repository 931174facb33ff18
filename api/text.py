"""Text a request may carry: bounded, and without NUL characters.

A NUL cannot be stored by PostgreSQL and is cut at by GDAL and the file system; an unbounded
string costs every route that reads it.  Request fields declare one of these types, so the
OpenAPI document states the limit and a bad value is a 422 before any work: ``invalid_text``
for a NUL (``api.errors`` maps the validation error), ``invalid_parameter`` for a long one.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

MAX_CODE = 64
"""Longest region code taken (a grid's is 15 digits; room for local schemes)."""
MAX_SHORT = 200
"""Longest short text taken: a name, a CRS name or EPSG code, an encoding, a layer name."""
MAX_LONG = 10_000
"""Longest free text taken in a form field (an upload's field mapping as JSON)."""


def no_nul(value: str) -> str:
    """``value`` unchanged; a validation error of type ``invalid_text`` if it holds a NUL."""
    if "\x00" in value:
        raise PydanticCustomError("invalid_text", "含 NUL 字符 (holds a NUL character)")
    return value


Code = Annotated[str, StringConstraints(max_length=MAX_CODE), AfterValidator(no_nul)]
"""A region code."""
ShortText = Annotated[str, StringConstraints(max_length=MAX_SHORT), AfterValidator(no_nul)]
"""A name, CRS, encoding or layer name."""
LongText = Annotated[str, StringConstraints(max_length=MAX_LONG), AfterValidator(no_nul)]
"""A longer text field."""
