"""API keys: created once, stored as a SHA-256 hash, each with a role; listed without the
key or its hash, revoked by id (every request checks the stored key, so a revoked key is
refused from the next request on)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, text

from gis.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from gis.models import ROLES

KEY_PREFIX = "gm_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's name and role."""

    name: str
    role: str

    def require(self, role: str) -> None:
        """Raise ``insufficient_role`` unless this principal has at least ``role``."""
        if ROLES.index(self.role) < ROLES.index(role):
            raise Forbidden(
                f"此操作需要 {role} 角色，当前密钥为 {self.role} "
                f"(this action needs the {role} role; the key has {self.role})",
                code="insufficient_role",
                details={"required": role, "role": self.role},
            )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(conn: Connection, *, role: str, name: str) -> str:
    """Store a new key with ``role`` and return it; it is never shown again."""
    if role not in ROLES:
        raise InvalidInput(
            f"未知角色 {role} (unknown role; expected one of {list(ROLES)})",
            code="invalid_role",
            details={"role": role},
        )
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    conn.execute(
        text(
            "INSERT INTO api_keys (name, role, key_hash, prefix) "
            "VALUES (:name, :role, :hash, :prefix)"
        ),
        {"name": name, "role": role, "hash": _hash(key), "prefix": key[:10]},
    )
    return key


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a stored key: never the key or its hash."""

    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def list_keys(conn: Connection) -> list[KeyInfo]:
    """Every key, revoked ones too, oldest first."""
    rows = conn.execute(
        text("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY id")
    ).all()
    return [KeyInfo(*row) for row in rows]


def revoke_key(conn: Connection, key_id: int) -> KeyInfo:
    """Revoke key ``key_id``; ``key_not_found`` if there is none, ``key_already_revoked``
    if it was revoked before (its revocation time stays)."""
    row = conn.execute(
        text(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id "
            "RETURNING id, name, role, created_at, revoked_at, revoked_at < now() AS before"
        ),
        {"id": key_id},
    ).first()
    if row is None:
        raise NotFound(
            f"API 密钥 {key_id} 不存在 (no API key {key_id})",
            code="key_not_found",
            details={"id": key_id},
        )
    if row.before:
        raise InvalidInput(
            f"API 密钥 {key_id} 已于 {row.revoked_at:%Y-%m-%d %H:%M} 吊销 "
            f"(API key {key_id} is already revoked)",
            code="key_already_revoked",
            details={"id": key_id, "revoked_at": row.revoked_at.isoformat()},
        )
    return KeyInfo(*row[:5])


def authenticate(conn: Connection, key: str | None) -> Principal:
    """The principal of an API key (as sent in ``Authorization: Bearer <key>``)."""
    if not key:
        raise Unauthorized(
            "需要 API 密钥: Authorization: Bearer <key> (an API key is required)",
            code="auth_required",
        )
    row = conn.execute(
        text("SELECT name, role FROM api_keys WHERE key_hash = :h AND revoked_at IS NULL"),
        {"h": _hash(key.strip())},
    ).first()
    if row is None:
        raise Unauthorized(
            "API 密钥无效或已吊销 (the API key is invalid or revoked)", code="invalid_api_key"
        )
    return Principal(name=row.name, role=row.role)
