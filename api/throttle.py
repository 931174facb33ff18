"""Rate and concurrency limits of the expensive endpoints, per caller.

Each family of expensive endpoints (``analysis``, ``batch``, ``export``, ``maps``) keeps a
token bucket per caller: ``settings.rate_limits[family]`` requests a minute, in bursts of up
to that many; beyond it, 429 ``rate_limited`` with ``Retry-After``.  Analyses need a viewer
key and their caller is that key; a key runs at most ``settings.analysis_concurrency``
analyses at once (429 ``too_many_concurrent``).  The other families are open to anonymous
callers, so their caller is the client address — a made-up key must not buy a fresh bucket.

The counts live in each worker process: with N workers a caller gets up to N times the
rate.  Enough to keep one caller from starving the others, not an accounting of use.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Literal, get_args

from gis.errors import RateLimited
from gis.settings import Settings

MAX_CALLERS = 10_000
"""Buckets kept per family; the least recently seen caller's is dropped beyond it."""


class Bucket:
    """Token buckets of one family: ``per_minute`` requests a minute per caller."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(max(1, per_minute))
        self._clock = clock
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, caller: str, spend: int = 1) -> None:
        """Spend ``spend`` requests of ``caller``'s (0: only check one is left), or raise 429
        ``rate_limited``."""
        now = self._clock()
        with self._lock:
            tokens, stamp = self._tokens.pop(caller, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - stamp) * self.rate)
            if tokens < 1:
                self._tokens[caller] = (tokens, now)
                wait = math.ceil((1 - tokens) / self.rate)
                raise RateLimited(
                    f"请求过于频繁，请 {wait} 秒后重试 (too many requests; retry in {wait} s)",
                    retry_after=wait,
                    details={"limit_per_minute": round(self.rate * 60)},
                )
            self._tokens[caller] = (tokens - spend, now)
            if len(self._tokens) > MAX_CALLERS:
                self._tokens.popitem(last=False)


class Slots:
    """At most ``per_caller`` requests of one caller at a time."""

    def __init__(self, per_caller: int, what: tuple[str, str] = ("个分析", "analyses")) -> None:
        self.per_caller = per_caller
        self.what = what
        """What a slot runs, in Chinese and English (for the refusal)."""
        self._busy: dict[str, int] = {}
        self._lock = threading.Lock()

    def hold(self, caller: str) -> Iterator[None]:
        """Hold one of ``caller``'s slots while the request runs, or raise 429."""
        with self._lock:
            if self._busy.get(caller, 0) >= self.per_caller:
                raise RateLimited(
                    f"同一密钥最多同时运行 {self.per_caller} {self.what[0]}，请稍后重试 "
                    f"(at most {self.per_caller} {self.what[1]} at once per key; retry shortly)",
                    code="too_many_concurrent",
                    retry_after=1,
                    details={"concurrent": self.per_caller},
                )
            self._busy[caller] = self._busy.get(caller, 0) + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._busy.pop(caller) - 1
                if left:
                    self._busy[caller] = left


Family = Literal["analysis", "batch", "export", "maps", "login"]
"""The families of expensive endpoints, each with its own buckets (``login``: failed
sign-ins per address and username, ``api/routers/account.py``)."""
DEFAULT_PER_MINUTE = 60
"""A family's rate when ``settings.rate_limits`` does not name it (but ``login``)."""
LOGIN_PER_MINUTE = 5
"""The ``login`` family's default: failed sign-ins a minute per address and username."""


class Throttle:
    """The app's limits, built once at start-up: each family's buckets, the analysis slots
    and the lookup streams' slots.
    The dependencies that spend them are ``api.deps.by_address`` and ``throttle_analysis``."""

    def __init__(self, settings: Settings) -> None:
        self.buckets: dict[Family, Bucket] = {
            family: Bucket(
                settings.rate_limits.get(
                    family, LOGIN_PER_MINUTE if family == "login" else DEFAULT_PER_MINUTE
                )
            )
            for family in get_args(Family)
        }
        self.slots = Slots(settings.analysis_concurrency)
        self.streams = Slots(settings.analysis_concurrency, ("个批量查询流", "lookup streams"))
