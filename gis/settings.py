"""Settings, read from ``GRIDMAP_*`` environment variables (see README)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All runtime configuration of gridmap.

    With ``database_url`` unset, gridmap runs its own PostgreSQL+PostGIS cluster
    (the *embedded* default) whose state lives under ``home``.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDMAP_", extra="ignore")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of an external PostGIS >= 3.1 server."
    )
    home: Path = Field(
        default=PROJECT_ROOT / ".gridmap", description="State of the embedded cluster."
    )
    db_port: int = Field(default=55432, description="TCP port of the embedded cluster.")
    db_name: str = Field(default="gridmap", description="Database name in the embedded cluster.")
    pg_bindir: Path | None = Field(
        default=None, description="PostgreSQL binaries; found under /usr/lib/postgresql if unset."
    )
    demo_dir: Path = Field(
        default=PROJECT_ROOT / "data" / "boundaries", description="Demo city files."
    )

    @property
    def embedded(self) -> bool:
        """True when gridmap owns the database cluster itself."""
        return not self.database_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests pass their own ``Settings``)."""
    return Settings()
