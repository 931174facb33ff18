"""API keys over HTTP, for admins: list, create, revoke, rotate (like ``gridmap keys``).

A new or rotated key is in the answer once (``Cache-Control: no-store``) and never again;
lists show who, role, region scope, status, expiry and last use — never a key or its hash.
Every change lands in the audit log (``api/audit.py``).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.deps import ConnectionDep, EngineDep, Id, require
from api.text import Code, ShortText
from gis.access import auth
from gis.access.auth import KeyInfo, Principal

router = APIRouter(prefix="/api/v1/keys", tags=["keys"])
Admin = Annotated[Principal, Depends(require("admin"))]
NO_STORE = {"Cache-Control": "no-store"}


class NewKey(BaseModel):
    """A key to create."""

    name: ShortText = Field(min_length=1, description="Who or what uses the key")
    role: Literal["viewer", "editor", "admin"]
    expires: str | None = Field(
        default=None, max_length=10, description="Lifetime such as 30d, 12h or 2w; none: never"
    )
    scope: Code | None = Field(
        default=None,
        description="Code of the current county, street or community whose regions the key "
        "may change (none: everywhere)",
    )


def _shown(info: KeyInfo, key: str | None = None) -> dict[str, Any]:
    """A key's description as JSON (times ISO 8601), with the new secret if given."""
    shown: dict[str, Any] = {
        k: v.isoformat() if hasattr(v, "isoformat") else v
        for k, v in dataclasses.asdict(info).items()
        if k != "expired"
    }
    shown["status"] = info.status
    if key is not None:
        shown["key"] = key
    return shown


@router.get("", summary="List API keys (admin)")
def list_keys(conn: ConnectionDep, _admin: Admin) -> JSONResponse:
    """Every key, oldest first: id, name, role, scope (null: everywhere), status (active,
    expired, revoked), created, expires, last used (kept to the minute), rotated, revoked."""
    return JSONResponse({"keys": [_shown(k) for k in auth.list_keys(conn)]}, headers=NO_STORE)


@router.post("", status_code=201, summary="Create an API key (admin)")
def create_key(engine: EngineDep, body: NewKey, _admin: Admin) -> JSONResponse:
    """A new key with ``role`` (an expiry, a region scope): the key is in this answer and
    nowhere else.  422 ``invalid_scope`` for a scope that is no current county, street or
    community."""
    lifetime = auth.parse_expiry(body.expires) if body.expires else None
    with engine.begin() as conn:
        info, key = auth.issue_key(
            conn, role=body.role, name=body.name, expires_in=lifetime, scope=body.scope
        )
    return JSONResponse(_shown(info, key), status_code=201, headers=NO_STORE)


@router.post("/{key_id}/revoke", summary="Revoke an API key (admin)")
def revoke_key(engine: EngineDep, key_id: Id, _admin: Admin) -> JSONResponse:
    """Refuse the key from the next request on and end its browser sessions."""
    with engine.begin() as conn:
        info = auth.revoke_key(conn, key_id)
    return JSONResponse(_shown(info), headers=NO_STORE)


@router.post("/{key_id}/rotate", summary="Rotate an API key (admin)")
def rotate_key(engine: EngineDep, key_id: Id, _admin: Admin) -> JSONResponse:
    """A new secret for the key (same id, name, role, expiry); the old one is refused from
    the next request on.  The new key is in this answer and nowhere else."""
    with engine.begin() as conn:
        info, key = auth.rotate_key(conn, key_id)
    return JSONResponse(_shown(info, key), headers=NO_STORE)
