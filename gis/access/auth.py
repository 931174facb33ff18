"""API keys and browser sessions.

A key is created once and stored as its SHA-256, with a role and optionally an expiry; it
is listed without the key or its hash, revoked or rotated by id.  Every request checks the
stored key, so a revoked, expired or rotated key is refused from the next request on.  Its
last use is kept at most once a minute (:data:`LAST_USED_EVERY`), so reads stay cheap.

A browser that opens a page with ``?key=`` gets a session instead (``api/sessions.py``): an
opaque random token in an HttpOnly cookie, stored here as its SHA-256, standing for the key
for :data:`SESSION_TTL` at most.  The key itself never stays in the browser, a stolen
cookie is worth a working day at most, and revoking, expiring or rotating the key ends its
sessions at once (each is checked against the key on every request).

The fast lookup path (``api.fast_lookup``) keeps keys' principals per process instead
(:class:`KeyCache`, by the key's SHA-256): a revocation or rotation is posted on this
machine's key board (the versions board's mechanism, ``gis.store.board``, under its own
name), which every worker reads with every request; an expiry is a deadline each entry
carries; each entry is checked again against the database, writing the last use, once a
:data:`LAST_USED_EVERY` (so another machine's revocation counts within a minute).
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Row, text

from gis.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from gis.store.board import Board, connection_board, publish
from gis.store.models import ROLES

KEY_PREFIX = "gm_"
LAST_USED_EVERY = timedelta(minutes=1)
"""How stale ``last_used_at`` may get before a request writes it again."""
SESSION_TTL = timedelta(hours=8)
"""How long a browser session lasts: a working day."""
_EXPIRY = re.compile(r"(\d{1,5})([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a key (its name and id) or a signed-in user (username and id), with
    its role and region scope (the code of the region whose regions it may change; None:
    everywhere — enforced by ``gis.access.scope``)."""

    name: str
    role: str
    key_id: int | None = None
    user_id: int | None = None
    scope: str | None = None

    def allows(self, role: str) -> bool:
        """Whether this principal has at least ``role``."""
        return ROLES.index(self.role) >= ROLES.index(role)

    def require(self, role: str) -> None:
        """Raise ``insufficient_role`` unless this principal has at least ``role``."""
        if not self.allows(role):
            zh, en = ("用户", "user") if self.user_id else ("密钥", "key")
            raise Forbidden(
                f"此操作需要 {role} 角色，当前{zh}为 {self.role} "
                f"(this action needs the {role} role; the {en} has {self.role})",
                code="insufficient_role",
                details={"required": role, "role": self.role},
            )


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_hash(key: str) -> str:
    """What names a key sent in ``Authorization: Bearer <key>`` where it is kept: its
    SHA-256 (the key itself is never stored, cached or logged)."""
    return _hash(key.strip())


def keys_board(conn: Connection) -> Path:
    """This machine's key board for the database ``conn`` is connected to: beside its
    versions board (``gis.store.board``), the time of the latest revocation or rotation."""
    versions = connection_board(conn)
    return versions.with_name(versions.name.replace("-versions-", "-keys-", 1))


def _key_changed(conn: Connection) -> None:
    """Post a revocation or rotation on the key board: after its row is written (and locked
    until the commit), so a worker that sees the new time reads the key after it — with
    ``FOR SHARE`` (:meth:`KeyCache.check`), which waits for the commit."""
    publish(keys_board(conn), time.time_ns())


def parse_expiry(value: str) -> timedelta:
    """A lifetime such as ``30d``, ``12h`` or ``2w``; ``invalid_expiry`` otherwise."""
    found = _EXPIRY.fullmatch(value.strip())
    if found is None or int(found[1]) == 0:
        raise InvalidInput(
            f"有效期应写作 30d、12h 或 2w，而不是 {value!r} "
            "(an expiry is a positive number of hours, days or weeks: 12h, 30d, 2w)",
            code="invalid_expiry",
            details={"expires": value},
        )
    return timedelta(**{_UNITS[found[2]]: int(found[1])})


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a stored key: never the key or its hash."""

    id: int
    name: str
    role: str
    scope: str | None
    """The region whose regions the key may change (None: everywhere)."""
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None
    last_used_at: datetime | None
    rotated_at: datetime | None
    expired: bool

    @property
    def status(self) -> str:
        """``revoked``, ``expired`` or ``active``."""
        return "revoked" if self.revoked_at else "expired" if self.expired else "active"


_INFO = (
    "id, name, role, scope_code, created_at, revoked_at, expires_at, last_used_at, rotated_at, "
    "coalesce(expires_at <= now(), false) AS expired"
)


def check_role(role: str) -> None:
    """422 ``invalid_role`` unless ``role`` is one of :data:`gis.store.models.ROLES`."""
    if role not in ROLES:
        raise InvalidInput(
            f"未知角色 {role} (unknown role; expected one of {list(ROLES)})",
            code="invalid_role",
            details={"role": role},
        )


def _new_secret() -> tuple[str, dict[str, str]]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, {"hash": _hash(key), "prefix": key[:10]}


def issue_key(
    conn: Connection,
    *,
    role: str,
    name: str,
    expires_in: timedelta | None = None,
    scope: str | None = None,
) -> tuple[KeyInfo, str]:
    """Store a new key with ``role`` (valid for ``expires_in`` if given; limited to region
    ``scope`` if given: a current county, street or community, else 422 ``invalid_scope``);
    its description and the key, which is never shown again."""
    from gis.access.users import check_scope  # users builds Principals: imports this module

    check_role(role)
    scope = check_scope(conn, scope)
    if not name.strip():
        raise InvalidInput("密钥名称不能为空 (a key needs a name)", code="invalid_key_name")
    key, secret = _new_secret()
    row = conn.execute(
        text(
            "INSERT INTO api_keys (name, role, scope_code, key_hash, prefix, expires_at) "
            "VALUES (:name, :role, :scope, :hash, :prefix, now() + :ttl) "
            f"RETURNING {_INFO}"
        ),
        {"name": name.strip(), "role": role, "scope": scope, "ttl": expires_in, **secret},
    ).one()
    return KeyInfo(*row), key


def create_key(conn: Connection, *, role: str, name: str) -> str:
    """Store a new key with ``role`` and return it; it is never shown again."""
    return issue_key(conn, role=role, name=name)[1]


def list_keys(conn: Connection) -> list[KeyInfo]:
    """Every key, revoked and expired ones too, oldest first."""
    rows = conn.execute(text(f"SELECT {_INFO} FROM api_keys ORDER BY id")).all()
    return [KeyInfo(*row) for row in rows]


def _not_found(key_id: int) -> NotFound:
    return NotFound(
        f"API 密钥 {key_id} 不存在 (no API key {key_id})",
        code="key_not_found",
        details={"id": key_id},
    )


def _already_revoked(info: KeyInfo) -> InvalidInput:
    assert info.revoked_at is not None
    return InvalidInput(
        f"API 密钥 {info.id} 已于 {info.revoked_at:%Y-%m-%d %H:%M} 吊销 "
        f"(API key {info.id} is already revoked)",
        code="key_already_revoked",
        details={"id": info.id, "revoked_at": info.revoked_at.isoformat()},
    )


def _end_sessions(conn: Connection, key_id: int) -> None:
    conn.execute(text("DELETE FROM sessions WHERE key_id = :id"), {"id": key_id})


def revoke_key(conn: Connection, key_id: int) -> KeyInfo:
    """Revoke key ``key_id`` and end its sessions; ``key_not_found`` if there is none,
    ``key_already_revoked`` if it was revoked before (its revocation time stays)."""
    row = conn.execute(
        text(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = :id "
            f"RETURNING {_INFO}, revoked_at < now() AS before"
        ),
        {"id": key_id},
    ).first()
    if row is None:
        raise _not_found(key_id)
    info = KeyInfo(*row[:-1])
    if row.before:
        raise _already_revoked(info)
    _end_sessions(conn, key_id)
    _key_changed(conn)
    return info


def rotate_key(conn: Connection, key_id: int) -> tuple[KeyInfo, str]:
    """Give key ``key_id`` a new secret (same id, name, role and expiry) and end its
    sessions: the old secret is refused from the next request on.  A revoked key cannot be
    rotated (``key_already_revoked``)."""
    row = conn.execute(
        text(f"SELECT {_INFO} FROM api_keys WHERE id = :id FOR UPDATE"), {"id": key_id}
    ).first()
    if row is None:
        raise _not_found(key_id)
    if row.revoked_at is not None:
        raise _already_revoked(KeyInfo(*row))
    key, secret = _new_secret()
    info = KeyInfo(
        *conn.execute(
            text(
                "UPDATE api_keys SET key_hash = :hash, prefix = :prefix, rotated_at = now() "
                f"WHERE id = :id RETURNING {_INFO}"
            ),
            {"id": key_id, **secret},
        ).one()
    )
    _end_sessions(conn, key_id)
    _key_changed(conn)
    return info, key


def _principal(conn: Connection, row: Row[Any]) -> Principal:
    """The principal of a found key row; its last use written when stale."""
    if row.stale:
        conn.execute(
            text(
                "UPDATE api_keys SET last_used_at = now() WHERE id = :id "
                "AND (last_used_at IS NULL OR last_used_at < now() - :every)"
            ),
            {"id": row.id, "every": LAST_USED_EVERY},
        )
    return Principal(name=row.name, role=row.role, key_id=row.id, scope=row.scope_code)


_USABLE = (
    "k.id, k.name, k.role, k.scope_code, k.revoked_at IS NULL AS live, "
    "coalesce(k.expires_at <= now(), false) AS expired, "
    "coalesce(k.last_used_at < now() - :every, true) AS stale, "
    "extract(epoch FROM k.expires_at - now())::float8 AS left_s"
)


def auth_required() -> Unauthorized:
    """401 ``auth_required``: the caller sent no key (and has no session)."""
    return Unauthorized(
        "需要 API 密钥: Authorization: Bearer <key> (an API key is required)",
        code="auth_required",
    )


def authenticate(conn: Connection, key: str | None) -> Principal:
    """The principal of an API key (as sent in ``Authorization: Bearer <key>``): 401
    ``auth_required`` without one, ``invalid_api_key`` for an unknown or revoked one,
    ``api_key_expired`` past its expiry.  Run it in a transaction that commits (the key's
    last use may be written)."""
    if not key:
        raise auth_required()
    row = _key_row(conn, key_hash(key))
    if (refused := _refusal(row)) is not None:
        raise refused
    return _principal(conn, row)


def _key_row(conn: Connection, digest: str, *, lock: bool = False) -> Row[Any] | None:
    """The stored key of SHA-256 ``digest`` (:data:`_USABLE`); ``lock``: ``FOR SHARE``
    (waits for a revocation or rotation being committed)."""
    return conn.execute(
        text(f"SELECT {_USABLE} FROM api_keys k WHERE k.key_hash = :h{' FOR SHARE' * lock}"),
        {"h": digest, "every": LAST_USED_EVERY},
    ).first()


def _refusal(row: Row[Any] | None) -> Unauthorized | None:
    """Why a stored key (None: none) is refused: 401 ``invalid_api_key`` (unknown or
    revoked), ``api_key_expired``; None when it is usable."""
    if row is None or not row.live:
        return Unauthorized(
            "API 密钥无效或已吊销 (the API key is invalid or revoked)", code="invalid_api_key"
        )
    if row.expired:
        return Unauthorized(
            "API 密钥已过期，请联系管理员 (the API key has expired)", code="api_key_expired"
        )
    return None


def csrf_token(session: str) -> str:
    """The CSRF token of a browser session: derived from its secret cookie (so nothing more
    is stored), put in the session's pages, and required of its state-changing requests
    (``api.deps.get_caller``).  Another site can neither read the cookie nor the page."""
    return _hash(f"csrf:{session}")


def start_session(conn: Connection, principal: Principal) -> str:
    """A new session token for ``principal``'s user (signed in at ``/login``) or else its
    key, valid for :data:`SESSION_TTL`; expired sessions are swept on the way."""
    conn.execute(text("DELETE FROM sessions WHERE expires_at <= now()"))
    token = secrets.token_urlsafe(32)
    user_id = principal.user_id
    owner = {"user_id": user_id, "key_id": principal.key_id if user_id is None else None}
    conn.execute(
        text(
            "INSERT INTO sessions (token_hash, key_id, user_id, expires_at) "
            "VALUES (:h, :key_id, :user_id, now() + :ttl)"
        ),
        {"h": _hash(token), "ttl": SESSION_TTL, **owner},
    )
    return token


def end_session(conn: Connection, token: str) -> None:
    """End the session of ``token`` (signing out); nothing when there is none."""
    conn.execute(text("DELETE FROM sessions WHERE token_hash = :h"), {"h": _hash(token)})


def session_principal(conn: Connection, token: str) -> Principal | None:
    """The principal of a live session whose key is still usable or whose user is not
    disabled (read on every request: a new role or scope counts at once); None otherwise
    (the browser is then anonymous, as if it had no cookie)."""
    row = conn.execute(
        text(
            f"SELECT {_USABLE} FROM sessions s JOIN api_keys k ON k.id = s.key_id "
            "WHERE s.token_hash = :h AND s.expires_at > now()"
        ),
        {"h": _hash(token), "every": LAST_USED_EVERY},
    ).first()
    if row is not None:
        return _principal(conn, row) if row.live and not row.expired else None
    user = conn.execute(
        text(
            "SELECT u.id, u.username, u.role, u.scope_code FROM sessions s "
            "JOIN users u ON u.id = s.user_id WHERE s.token_hash = :h "
            "AND s.expires_at > now() AND u.disabled_at IS NULL"
        ),
        {"h": _hash(token)},
    ).first()
    if user is None:
        return None
    return Principal(name=user.username, role=user.role, user_id=user.id, scope=user.scope_code)


MAX_CACHED_KEYS = 10_000
"""Keys whose principal a process keeps; beyond it the cache starts again."""


@dataclass(frozen=True)
class _Cached:
    principal: Principal
    board: int
    """The key board's time when the key was read: a later revocation or rotation voids it."""
    expires: float
    """``time.monotonic()`` at the key's expiry (inf: none)."""
    checked: float
    """``time.monotonic()`` when the key was last read (and its last use written if stale)."""


class KeyCache:
    """API keys' principals for one process, by the key's SHA-256 (:func:`key_hash`), for
    requests answered without a database round trip (``api.fast_lookup``).

    An entry holds while the key board shows the time it was read and until the key's
    expiry; :meth:`due` says when it should be read again (once a :data:`LAST_USED_EVERY`,
    off the request path: its last use is written then).  A key that is refused is not
    kept: its requests go where the refusal is answered (401, ``api.deps``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._keys: dict[str, _Cached] = {}
        self._board: Board | None = None
        self._reading: set[str] = set()
        self._lock = threading.Lock()

    def cached(self, digest: str) -> Principal | None:
        """The principal of the key of SHA-256 ``digest`` if known here and still valid."""
        entry = self._keys.get(digest)
        if entry is None or self._board is None:
            return None
        if entry.board != self._board.read() or time.monotonic() >= entry.expires:
            self._keys.pop(digest, None)
            return None
        return entry.principal

    def due(self, digest: str) -> bool:
        """Whether the (cached) key should be read again now — once per interval: the first
        caller to ask is told so, the others not until it is read."""
        entry = self._keys.get(digest)
        every = LAST_USED_EVERY.total_seconds()
        with self._lock:
            if entry is None or digest in self._reading or time.monotonic() - entry.checked < every:
                return False
            self._reading.add(digest)
            return True

    def check(self, digest: str) -> Principal | None:
        """Read the key of SHA-256 ``digest`` from the database (writing its last use when
        stale) and keep its principal; None, and nothing kept, when it is refused.  Raises
        ``OSError`` when the key board cannot be used (then nothing is cached)."""
        try:
            with self.engine.begin() as conn:
                if self._board is None:
                    self._board = Board(keys_board(conn))
                board = self._board.read()  # before the read: a later change voids it
                row = _key_row(conn, digest, lock=True)
                principal = None if _refusal(row) else _principal(conn, row)
        finally:
            with self._lock:
                self._reading.discard(digest)
        if principal is None:
            self._keys.pop(digest, None)
            return None
        left = math.inf if row.left_s is None else row.left_s
        now = time.monotonic()
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys.clear()
        self._keys[digest] = _Cached(principal, board, now + left, now)
        return principal
