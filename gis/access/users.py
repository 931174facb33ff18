"""People of the office who sign in with a username and password.

A user has a role and optionally a region scope (a current county, street or community
code: the regions they may change, ``gis.access.scope``).  Only an argon2 hash of the
password is stored; no password or hash reaches a log, an error or the audit log.  A user
is disabled, never deleted (versions and the audit log name them); disabling ends their
sessions at once, as does a new password.

Signing in answers the same 401 ``invalid_login`` for an unknown user, a disabled one and a
wrong password, after the same work (an unknown name is checked against a dummy hash), so
neither the answer nor its time tells which names exist.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from gis.access.auth import Principal, check_role
from gis.errors import Conflict, InvalidInput, NotFound, Unauthorized
from gis.store.versions import current

MAX_USERNAME = 64
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
"""Longest password accepted: a bound on the hashing work one request can ask for."""
SCOPE_LEVELS = ("county", "street", "community")
"""Levels a scope may be: a grid is too small to be a clerk's area of work."""

HASHES_AT_ONCE = 4
"""Password hashes a process computes at a time: each takes argon2's 64 MiB, so a flood of
sign-ins waits its turn instead of taking the server's memory."""

_hasher = PasswordHasher()
_hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)


def _hash(password: str) -> str:
    """An argon2 hash of ``password`` (at most :data:`HASHES_AT_ONCE` at a time)."""
    with _hashing:
        return _hasher.hash(password)


def _verify(hashed: str, password: str) -> None:
    """Raise argon2's ``VerificationError`` unless ``password`` matches ``hashed`` (at most
    :data:`HASHES_AT_ONCE` at a time)."""
    with _hashing:
        _hasher.verify(hashed, password)


@cache
def _dummy_hash() -> str:
    """A hash an unknown username is checked against, so it costs what a known one does."""
    return _hash("gridmap: no such user")


@dataclass(frozen=True)
class UserInfo:
    """What may be shown about a user: never the password or its hash."""

    id: int
    username: str
    role: str
    scope: str | None
    created_at: datetime
    disabled_at: datetime | None

    @property
    def status(self) -> str:
        """``disabled`` or ``active``."""
        return "disabled" if self.disabled_at else "active"


_INFO = "id, username, role, scope_code, created_at, disabled_at"


def _username(username: str) -> str:
    name = username.strip()
    if not 1 <= len(name) <= MAX_USERNAME or any(
        unicodedata.category(c).startswith("C") for c in name
    ):
        raise InvalidInput(
            f"用户名应为 1–{MAX_USERNAME} 个字符，且不含控制字符 "
            f"(a username is 1–{MAX_USERNAME} characters without control characters)",
            code="invalid_username",
        )
    return name


def _password_hash(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(
            f"密码至少 {MIN_PASSWORD} 个字符（最多 {MAX_PASSWORD}） "
            f"(a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters)",
            code="invalid_password",
            details={"min_length": MIN_PASSWORD},
        )
    return _hash(password)


def check_scope(conn: Connection, scope: str | None) -> str | None:
    """``scope`` if it is None (everywhere) or the code of a current county, street or
    community; 422 ``invalid_scope`` otherwise."""
    if scope is None:
        return None
    level = conn.scalar(
        text(f"SELECT r.level FROM regions r WHERE r.code = :code AND {current('r')}"),
        {"code": scope},
    )
    if level not in SCOPE_LEVELS:
        raise InvalidInput(
            f"范围 {scope!r} 不是现行的区县、街道或社区编码 "
            "(a scope is the code of a current county, street or community)",
            code="invalid_scope",
            details={"scope": scope, "levels": list(SCOPE_LEVELS)},
        )
    return scope


def _not_found(user: int | str) -> NotFound:
    return NotFound(
        f"用户 {user} 不存在 (no user {user})", code="user_not_found", details={"user": user}
    )


def _end_sessions(conn: Connection, user_id: int) -> None:
    conn.execute(text("DELETE FROM sessions WHERE user_id = :id"), {"id": user_id})


def create_user(
    conn: Connection, username: str, password: str, role: str, scope: str | None = None
) -> UserInfo:
    """Store a new user; 422 for a bad name, password, role or scope, 409 ``user_exists``
    when the name is taken."""
    name = _username(username)
    check_role(role)
    scope = check_scope(conn, scope)
    hashed = _password_hash(password)
    try:
        with conn.begin_nested():
            row = conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, scope_code) "
                    f"VALUES (:name, :hash, :role, :scope) RETURNING {_INFO}"
                ),
                {"name": name, "hash": hashed, "role": role, "scope": scope},
            ).one()
    except IntegrityError:
        raise Conflict(
            f"用户名 {name} 已存在 (the username is taken)",
            code="user_exists",
            details={"username": name},
        ) from None
    return UserInfo(*row)


def list_users(conn: Connection) -> list[UserInfo]:
    """Every user, disabled ones too, oldest first."""
    return [UserInfo(*r) for r in conn.execute(text(f"SELECT {_INFO} FROM users ORDER BY id"))]


def get_user(conn: Connection, user: int | str) -> UserInfo:
    """A user by id or username; 404 ``user_not_found``."""
    column = "id" if isinstance(user, int) else "username"
    row = conn.execute(text(f"SELECT {_INFO} FROM users WHERE {column} = :u"), {"u": user}).first()
    if row is None:
        raise _not_found(user)
    return UserInfo(*row)


def _update(conn: Connection, user_id: int, assignments: str, **values: object) -> UserInfo:
    row = conn.execute(
        text(f"UPDATE users SET {assignments} WHERE id = :id RETURNING {_INFO}"),
        {"id": user_id, **values},
    ).first()
    if row is None:
        raise _not_found(user_id)
    return UserInfo(*row)


def disable_user(conn: Connection, user_id: int, *, disabled: bool = True) -> UserInfo:
    """Disable a user (their sessions end at once; the first disabling time stays) or,
    with ``disabled=False``, let them sign in again."""
    if not disabled:
        return _update(conn, user_id, "disabled_at = NULL")
    info = _update(conn, user_id, "disabled_at = coalesce(disabled_at, now())")
    _end_sessions(conn, user_id)
    return info


def set_password(conn: Connection, user_id: int, password: str) -> UserInfo:
    """Give a user a new password; their sessions end (whoever knew the old one is out)."""
    info = _update(conn, user_id, "password_hash = :hash", hash=_password_hash(password))
    _end_sessions(conn, user_id)
    return info


def set_role_scope(conn: Connection, user_id: int, role: str, scope: str | None) -> UserInfo:
    """Set a user's role and scope (None: everywhere); their sessions see it from the next
    request on (a session reads the user on every request)."""
    check_role(role)
    return _update(
        conn,
        user_id,
        "role = :role, scope_code = :scope",
        role=role,
        scope=check_scope(conn, scope),
    )


def _invalid_login() -> Unauthorized:
    return Unauthorized("用户名或密码不正确 (wrong username or password)", code="invalid_login")


def verify_login(conn: Connection, username: str, password: str) -> Principal:
    """The principal of an active user whose password matches; the same 401
    ``invalid_login`` (after the same hashing work) otherwise.  An outdated hash is
    replaced by one with the current parameters."""
    row = conn.execute(
        text(
            "SELECT id, username, role, scope_code, password_hash, disabled_at IS NULL AS live "
            "FROM users WHERE username = :u"
        ),
        {"u": username.strip()[: MAX_USERNAME + 1]},
    ).first()
    try:
        _verify(row.password_hash if row else _dummy_hash(), password[: MAX_PASSWORD + 1])
    except (VerificationError, InvalidHashError):
        raise _invalid_login() from None
    if row is None or not row.live or len(password) > MAX_PASSWORD:
        raise _invalid_login()
    if _hasher.check_needs_rehash(row.password_hash):
        _update(conn, row.id, "password_hash = :hash", hash=_hash(password))
    return Principal(name=row.username, role=row.role, user_id=row.id, scope=row.scope_code)
