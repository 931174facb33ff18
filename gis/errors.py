"""The one error family of gridmap.

Every error a user can cause or meet carries a stable machine-readable ``code``, a
``message`` a GIS clerk understands, and ``details``.  The API maps each class to an
HTTP status in one place (``api/errors.py``); the CLI prints the message.
"""

from __future__ import annotations

from typing import Any


class GridmapError(Exception):
    """Base of all gridmap errors."""

    code = "gridmap_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details if details is not None else {}

    def to_dict(self) -> dict[str, Any]:
        """The error as a JSON-ready mapping."""
        return {"code": self.code, "message": self.message, "details": self.details}


class NotFound(GridmapError):
    """Something asked for by code or number does not exist."""

    code = "not_found"


class InvalidInput(GridmapError):
    """A request or file is malformed or violates a rule; nothing was changed."""

    code = "invalid_input"


class InvalidQuery(InvalidInput):
    """A query parameter of a read is malformed or unknown, where the protocol asks for a
    400 (OGC API Features); elsewhere gridmap answers 422 ``invalid_parameter``."""

    code = "invalid_parameter"


class Conflict(GridmapError):
    """The request clashes with what is stored (e.g. an identifier already in use)."""

    code = "conflict"


class TooLarge(GridmapError):
    """An upload, archive or batch exceeds a configured limit."""

    code = "too_large"


class UriTooLong(GridmapError):
    """A request's URL is longer than gridmap reads."""

    code = "uri_too_long"


class TimedOut(GridmapError):
    """A request body stalled or arrived slower than the configured minimum rate."""

    code = "body_timeout"


class RenderTimedOut(GridmapError):
    """A printed map was not finished within its time limit."""

    code = "print_timeout"


class Unsupported(GridmapError):
    """A file format gridmap cannot read."""

    code = "unknown_format"


class Unauthorized(GridmapError):
    """No valid API key was sent."""

    code = "auth_required"


class Forbidden(GridmapError):
    """The API key's role does not allow this action."""

    code = "insufficient_role"


class RateLimited(GridmapError):
    """One caller asks for too much at once or too often; ``retry_after`` says when (seconds)."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = max(1, int(retry_after))
        self.details = {**self.details, "retry_after_s": self.retry_after}


class Unavailable(GridmapError):
    """A service gridmap depends on (the database) cannot be reached right now."""

    code = "database_unavailable"


class ClusterError(GridmapError):
    """The embedded PostgreSQL cluster could not be created, started or stopped."""

    code = "cluster_error"
