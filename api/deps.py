"""Request dependencies: a database connection and paging parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection

from gis.auth import Principal, authenticate

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
"""The largest page any list endpoint returns; ask for more with ``offset``."""


def get_connection(request: Request) -> Iterator[Connection]:
    """A connection from the app's pool for the duration of the request."""
    with request.app.state.engine.connect() as conn:
        yield conn


@dataclass(frozen=True)
class Page:
    """Paging of a list endpoint."""

    limit: int
    offset: int


def get_page(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
    ] = DEFAULT_PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, description="Items to skip.")] = 0,
) -> Page:
    """Paging parameters, validated (422 ``invalid_parameter`` when out of range)."""
    return Page(limit=limit, offset=offset)


ConnectionDep = Annotated[Connection, Depends(get_connection)]
PageDep = Annotated[Page, Depends(get_page)]


bearer = HTTPBearer(auto_error=False, description="An API key from `gridmap keys create`.")


def require(role: str) -> Callable[..., Principal]:
    """A dependency: the caller's API key must have at least ``role`` (401/403 otherwise)."""

    def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        with request.app.state.engine.connect() as conn:
            principal = authenticate(conn, credentials.credentials if credentials else None)
        principal.require(role)
        return principal

    return dependency
