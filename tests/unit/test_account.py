"""Pure rules of signing in: ``next`` stays on this site, the login throttle counts
failures only (a check spends nothing), and usernames and passwords are checked before
anything is stored."""

from __future__ import annotations

import pytest

from api.routers.account import START, safe_next
from api.throttle import LOGIN_PER_MINUTE, Bucket, Throttle
from gis.access.users import _password_hash, _username
from gis.errors import InvalidInput, RateLimited
from gis.settings import Settings


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "workbench",
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "/" + "a" * 2001,
    ],
)
def test_next_off_this_site_goes_to_the_start_page(target: str | None) -> None:
    assert safe_next(target) == START


@pytest.mark.parametrize("target", ["/workbench/versions", "/workbench/edit/130227001002?x=1", "/"])
def test_next_on_this_site_is_kept(target: str) -> None:
    assert safe_next(target) == target


def test_a_check_spends_nothing_and_failures_run_out() -> None:
    now = [0.0]
    bucket = Bucket(LOGIN_PER_MINUTE, clock=lambda: now[0])
    for _ in range(100):
        bucket.take("a", spend=0)  # successful sign-ins are only checked
    for _ in range(LOGIN_PER_MINUTE):
        bucket.take("a")
    with pytest.raises(RateLimited) as caught:
        bucket.take("a", spend=0)
    assert caught.value.retry_after == 60 // LOGIN_PER_MINUTE
    bucket.take("b", spend=0)  # another address or username
    now[0] += 60 / LOGIN_PER_MINUTE
    bucket.take("a")
    assert Throttle(Settings()).buckets["login"].capacity == LOGIN_PER_MINUTE


@pytest.mark.parametrize("name", ["", "   ", "a" * 65, "bad\nname", "bad\x00name", "bad\u200ename"])
def test_bad_usernames(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _username(name)
    assert caught.value.code == "invalid_username"


def test_usernames_and_passwords() -> None:
    assert _username("  阿依古丽·买买提 ") == "阿依古丽·买买提"
    assert _username("x" * 64) == "x" * 64
    for password in ("short", "123456789", "x" * 1025):
        with pytest.raises(InvalidInput) as caught:
            _password_hash(password)
        assert caught.value.code == "invalid_password" and password not in caught.value.message
    assert _password_hash("ten chars!").startswith("$argon2id$")
