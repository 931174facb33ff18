"""``gridmap users`` through typer's CliRunner: add with --password-stdin (or the hidden
prompt, typed twice), list without any password or hash, disable and passwd by name, each
change in the audit log without the password."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from api.cli import app
from gis.access.users import verify_login
from gis.errors import GridmapError, Unauthorized
from gis.settings import get_settings

from support import GRID_CODE, TEST_PASSWORD


@pytest.fixture
def gridmap(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner of ``gridmap`` on this test's own database."""
    monkeypatch.setenv("GRIDMAP_DATABASE_URL", fresh_db_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_users_commands(gridmap: CliRunner, fresh_engine: Engine) -> None:
    added = gridmap.invoke(
        app,
        ["users", "add", "admin", "--role", "admin", "--password-stdin"],
        input=TEST_PASSWORD + "\n",
    )
    assert added.exit_code == 0, added.output
    assert "已添加用户 1 admin" in added.output and TEST_PASSWORD not in added.output

    prompted = gridmap.invoke(
        app,
        ["users", "add", "[b]王芳", "--role", "editor", "--scope", GRID_CODE[:12]],
        input=f"{TEST_PASSWORD}\n{TEST_PASSWORD}\n",
    )
    assert prompted.exit_code == 0, prompted.output
    assert TEST_PASSWORD not in prompted.output  # the prompt is hidden
    mismatch = gridmap.invoke(
        app, ["users", "add", "李娜", "--role", "viewer"], input="first password\nsecond one\n"
    )
    assert mismatch.exit_code != 0

    short = gridmap.invoke(
        app, ["users", "add", "李娜", "--role", "viewer", "--password-stdin"], input="short\n"
    )
    assert isinstance(short.exception, GridmapError)
    assert short.exception.code == "invalid_password"

    listed = gridmap.invoke(app, ["users", "list"], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert "[b]王芳" in listed.output and GRID_CODE[:12] in listed.output
    assert "argon2" not in listed.output and "李娜" not in listed.output

    assert gridmap.invoke(app, ["users", "disable", "[b]王芳"]).exit_code == 0
    with fresh_engine.begin() as conn, pytest.raises(Unauthorized):
        verify_login(conn, "[b]王芳", TEST_PASSWORD)
    assert "disabled" in gridmap.invoke(app, ["users", "list"], terminal_width=200).output

    changed = gridmap.invoke(
        app, ["users", "passwd", "admin", "--password-stdin"], input="a brand new password\n"
    )
    assert changed.exit_code == 0, changed.output
    with fresh_engine.begin() as conn:
        assert verify_login(conn, "admin", "a brand new password").name == "admin"
        log = conn.execute(text("SELECT action, details::text FROM audit_log ORDER BY id")).all()
    assert [a for a, _ in log] == [
        "gridmap users add",
        "gridmap users add",
        "gridmap users disable",
        "gridmap users passwd",
    ]
    assert not any(TEST_PASSWORD in d or "brand new" in d for _, d in log)

    missing = gridmap.invoke(app, ["users", "disable", "nobody"])
    assert missing.exception.code == "user_not_found"
