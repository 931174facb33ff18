"""Personal information (个人信息保护法): which fields are personal and how each role sees
them.  The one classification every surface applies — lookups, regions, OGC items, vector
tiles, map pages, exports.

- **Which fields.** The fields ``gis.catalogue`` marks ``personal`` (:data:`PERSONAL_FIELDS`):
  a grid's worker (name) and the worker's phone.  Centres, cameras and the address registry
  hold places, not people (a centre's address and opening hours are public; a registry entry
  names no resident), so they have none.  A region's free ``attributes`` (an upload's
  unmapped fields) are personal when their name says a person (:data:`PERSONAL_ATTRIBUTE`:
  书记, 楼长, 联系人, 姓名, 电话, phone …): a phone when the name says one
  (:data:`PHONE_ATTRIBUTE`), else a name.
- **How each role sees them** (:func:`view`): anonymous callers see none (the value is
  null, a personal attribute is left out); viewers see them masked (:func:`mask_phone`:
  ``138****5678``; :func:`mask_name`: the first and last character, ``李*英``, ``王*``,
  ``欧**明`` — recognisable to colleagues who know the person, useless to anyone else);
  editors and admins see them whole.
- **Vector tiles** are one public, cacheable answer for every caller, so they carry no
  personal field at all (a tile layer refuses one: ``tiles.layers.Layer``).
- **Exports** are files that come back: they carry personal fields only for callers who see
  them whole (``gis.query.export``), never empty or masked columns an import would write back.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from gis.catalogue import LAYERS
from gis.catalogue.schema import Personal as Kind

NAME: Kind = "name"
PHONE: Kind = "phone"
View = Literal["none", "masked", "whole"]

PERSONAL_FIELDS: dict[str, Kind] = {
    f.name: f.personal for layer in LAYERS.values() for f in layer.fields if f.personal
}
"""Every personal field by name, as answers carry them, and what it holds."""

PHONE_ATTRIBUTE = re.compile(r"电话|手机|联系方式|phone|tel|mobile", re.IGNORECASE)
PERSONAL_ATTRIBUTE = re.compile(
    r"电话|手机|联系方式|联系人|负责人|姓名|书记|网格员|楼长|楼门长|户主|党员|"
    r"phone|tel|mobile|contact|person|secretary|worker|leader|owner",
    re.IGNORECASE,
)


def view(role: str | None) -> View:
    """How a caller with ``role`` (None: anonymous) sees personal fields."""
    if role is None:
        return "none"
    return "masked" if role == "viewer" else "whole"


def mask_phone(value: str) -> str:
    """The first three and last four characters of a phone number: ``138****5678``; a
    number shorter than 8 characters is masked whole."""
    value = value.strip()
    if len(value) < 8:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_name(value: str) -> str:
    """The first and last character of a name (``李*英``, ``欧**明``); of two, the first
    (``王*``); a single character not at all (``*``)."""
    value = value.strip()
    if len(value) <= 2:
        return value[:1] + "*" if len(value) == 2 else "*" * len(value)
    return value[0] + "*" * (len(value) - 2) + value[-1]


def attribute_kind(name: str) -> Kind | None:
    """What a free attribute called ``name`` holds, if it is personal."""
    if not PERSONAL_ATTRIBUTE.search(name):
        return None
    return PHONE if PHONE_ATTRIBUTE.search(name) else NAME


def shown(value: Any, kind: Kind, role: str | None) -> Any:
    """``value`` of a personal field of ``kind`` as a caller with ``role`` sees it."""
    how = view(role)
    if value is None or how == "whole":
        return value
    if how == "none":
        return None
    text = str(value)
    return mask_phone(text) if kind == PHONE else mask_name(text)


def _attributes(attributes: dict[str, Any], role: str | None) -> dict[str, Any]:
    kept = {}
    for name, value in attributes.items():
        kind = attribute_kind(name)
        if kind is None:
            kept[name] = value
        elif view(role) != "none":
            kept[name] = shown(value, kind, role)
    return kept


def redact(answer: Any, role: str | None) -> Any:
    """``answer`` (JSON-like: dicts, lists, scalars) as a caller with ``role`` may see it:
    personal columns by name wherever they appear (a feature's properties, the grids of a
    lookup, its candidates), free attributes by their name under ``attributes``.  A copy;
    the answer itself (often cached) is never changed.  Editors and admins get it as is."""
    if view(role) == "whole":
        return answer
    if isinstance(answer, list):
        return [redact(item, role) for item in answer]
    if not isinstance(answer, dict):
        return answer
    out = {}
    for name, value in answer.items():
        if name in PERSONAL_FIELDS:
            out[name] = shown(value, PERSONAL_FIELDS[name], role)
        elif name == "geometry":  # coordinates: nothing personal, and often large
            out[name] = value
        elif name == "attributes" and isinstance(value, dict):
            out[name] = _attributes(value, role)
        else:
            out[name] = redact(value, role)
    return out
