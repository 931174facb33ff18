"""API keys: created once, stored as a SHA-256 hash, each with a role."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gis.errors import Forbidden, InvalidInput, Unauthorized
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
