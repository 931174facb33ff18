"""Users (``gis.access.users``): the rules of names, passwords, roles and scopes; signing in
answers the same for an unknown name, a wrong password and a disabled user; disabling or a
new password ends the user's sessions; no password or hash is ever shown."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gis.access import auth, users
from gis.errors import Conflict, GridmapError, InvalidInput, NotFound, Unauthorized

from support import GRID_CODE, TEST_PASSWORD, make_user

COMMUNITY = GRID_CODE[:12]
"""清泉里社区, the community of the demo grid."""


def _error(call: Callable[..., Any], *args: Any) -> GridmapError:
    """The gridmap error ``call(*args)`` raises."""
    with pytest.raises(GridmapError) as caught:
        call(*args)
    return caught.value


def test_rules_of_a_new_user(fresh_engine: Engine) -> None:
    with fresh_engine.begin() as conn:
        cases = {
            "invalid_password": ("王芳", "short", "editor", None),
            "invalid_username": ("bad\x07name", TEST_PASSWORD, "editor", None),
            "invalid_role": ("王芳", TEST_PASSWORD, "owner", None),
        }
        for code, args in cases.items():
            error = _error(users.create_user, conn, *args)
            assert isinstance(error, InvalidInput) and error.code == code, code
        assert _error(users.create_user, conn, "", TEST_PASSWORD, "viewer").code == (
            "invalid_username"
        )
        assert _error(users.create_user, conn, "x" * 65, TEST_PASSWORD, "viewer").code == (
            "invalid_username"
        )
        for scope in (GRID_CODE, "999999", "<script>"):  # a grid is not a scope; unknown codes
            error = _error(users.create_user, conn, "王芳", TEST_PASSWORD, "editor", scope)
            assert error.code == "invalid_scope" and TEST_PASSWORD not in error.message

        made = users.create_user(conn, " 王芳 ", TEST_PASSWORD, "editor", COMMUNITY)
        assert (made.username, made.role, made.scope, made.status) == (
            "王芳",
            "editor",
            COMMUNITY,
            "active",
        )
        taken = _error(users.create_user, conn, "王芳", TEST_PASSWORD, "viewer")
        assert isinstance(taken, Conflict) and taken.code == "user_exists"
        county = conn.scalar(text("SELECT code FROM regions WHERE level = 'county' LIMIT 1"))
        assert users.create_user(conn, "李娜", TEST_PASSWORD, "admin", county).scope == county
        stored = conn.scalar(text("SELECT password_hash FROM users WHERE username = '王芳'"))
        assert stored.startswith("$argon2id$") and TEST_PASSWORD not in stored
        assert [u.username for u in users.list_users(conn)] == ["王芳", "李娜"]
        assert "hash" not in repr(users.list_users(conn))
        assert isinstance(_error(users.get_user, conn, 99), NotFound)


def test_sign_in_answers_the_same_and_disabling_ends_sessions(fresh_engine: Engine) -> None:
    user = make_user(fresh_engine, "张伟", "editor", COMMUNITY)
    with fresh_engine.begin() as conn:
        principal = users.verify_login(conn, "张伟", TEST_PASSWORD)
        assert (principal.name, principal.role, principal.user_id, principal.scope) == (
            "张伟",
            "editor",
            user.id,
            COMMUNITY,
        )
        token = auth.start_session(conn, principal)
        assert auth.session_principal(conn, token) == principal

        wrong = _error(users.verify_login, conn, "张伟", "not the password")
        unknown = _error(users.verify_login, conn, "nobody", TEST_PASSWORD)
        for error in (wrong, unknown):
            assert isinstance(error, Unauthorized) and error.code == "invalid_login"
        assert wrong.to_dict() == unknown.to_dict()

        users.set_role_scope(conn, user.id, "viewer", None)
        assert auth.session_principal(conn, token).role == "viewer"  # read on every request

        users.disable_user(conn, user.id)
        assert auth.session_principal(conn, token) is None
        disabled = _error(users.verify_login, conn, "张伟", TEST_PASSWORD)
        assert disabled.to_dict() == wrong.to_dict()

        users.disable_user(conn, user.id, disabled=False)
        token = auth.start_session(conn, users.verify_login(conn, "张伟", TEST_PASSWORD))
        users.set_password(conn, user.id, "a new password 2026")
        assert auth.session_principal(conn, token) is None
        assert _error(users.verify_login, conn, "张伟", TEST_PASSWORD).code == "invalid_login"
        users.verify_login(conn, "张伟", "a new password 2026")

        token = auth.start_session(conn, users.verify_login(conn, "张伟", "a new password 2026"))
        auth.end_session(conn, token)
        assert auth.session_principal(conn, token) is None


def test_an_unknown_name_costs_what_a_wrong_password_does(fresh_engine: Engine) -> None:
    """The dummy hash: timing does not tell which usernames exist."""
    make_user(fresh_engine, "刘洋", "viewer")

    def seconds(name: str) -> float:
        with fresh_engine.begin() as conn:
            start = time.perf_counter()
            with pytest.raises(Unauthorized):
                users.verify_login(conn, name, "not the password")
            return time.perf_counter() - start

    seconds("nobody")  # the dummy hash is made once, on first use
    known = statistics.median(seconds("刘洋") for _ in range(5))
    unknown = statistics.median(seconds("nobody") for _ in range(5))
    assert 0.5 < unknown / known < 2, (known, unknown)
