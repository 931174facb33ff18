"""Settings, read from ``GRIDMAP_*`` environment variables (see README)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    replica_urls: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="URLs of read replicas of ``database_url`` (comma-separated in "
        "GRIDMAP_REPLICA_URLS; an HAProxy read port is one URL): reads go to one that has "
        "replayed the current boundary version, else to the primary (``gis.store.replicas``).",
    )
    replica_max_lag_s: float = Field(
        default=10.0,
        gt=0,
        description="A replica whose replay is further behind than this many seconds is not "
        "read from (``gis.store.replicas.REPLAY_LAG_SQL`` says how the lag is measured).",
    )
    version_fence: bool | None = Field(
        default=None,
        description="Ask the primary for its newest boundary version before answering "
        "(``gis.store.watch``): on when gridmap nodes on several machines share one primary. "
        "Unset: on exactly when there are replica URLs.",
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
    vendor_dir: Path = Field(
        default=PROJECT_ROOT / "vendor",
        description="Map assets (Leaflet, its plugins, MapLibre) fetched from npm at build time "
        "by `python -m gis.web.map_assets fetch`; served at /vendor.",
    )

    max_upload_bytes: int = Field(default=200_000_000, description="Largest upload accepted.")
    max_unpacked_bytes: int = Field(
        default=1_000_000_000, description="Largest total size an uploaded archive may unpack to."
    )
    max_archive_entries: int = Field(default=2000, description="Most files in an archive.")
    max_points_body_bytes: int = Field(
        default=5_000_000,
        ge=1,
        description="Largest body of a batch lookup or an analysis: 10 000 points measure "
        "0.7 MB as JSON, 1.7 MB as a CSV of seven columns, 3.5 MB as indented GeoJSON with "
        "properties.",
    )
    max_stream_body_bytes: int = Field(
        default=4_000_000_000,
        ge=1,
        description="Largest body of a streamed lookup (read a few MB at a time): 10 000 000 "
        "rows of a CSV of id, lon, lat measure ~0.3 GB.",
    )
    max_json_body_bytes: int = Field(
        default=1_000_000, ge=1, description="Largest body of a JSON write (centres, cameras)."
    )
    max_small_body_bytes: int = Field(
        default=64_000, ge=0, description="Largest body of every other request."
    )
    body_idle_timeout_s: float = Field(
        default=10.0, gt=0, description="A request body that sends nothing this long: 408."
    )
    body_min_rate: float = Field(
        default=8_000.0,
        ge=0,
        description="Bytes a second a request body must average once body_grace_s has passed "
        "(slower: 408).",
    )
    body_grace_s: float = Field(
        default=10.0, ge=0, description="Time a body may take before body_min_rate applies."
    )
    stale_temp_s: float = Field(
        default=86_400.0,
        gt=0,
        description="gridmap-* temp folders older than this are removed at start-up (left by "
        "a worker killed mid-upload).",
    )
    overlap_tolerance_m2: float = Field(
        default=1.0, description="Sibling overlaps up to this area are slivers (warnings)."
    )
    gap_tolerance_m2: float = Field(
        default=1.0, description="Gaps in a parent up to this area are slivers (warnings)."
    )
    outside_tolerance_m2: float = Field(
        default=1.0, description="A child may stick out of its parent by this much (warning)."
    )
    sliver_width_m: float = Field(
        default=0.5, description="Pieces narrower than this everywhere are slivers."
    )

    centre_radius_m: dict[str, float] = Field(
        default={"centre": 1000.0, "station": 500.0, "home": 300.0},
        description="Default service radius per centre level (GB 50180 life circles: 15-, "
        "10- and 5-minute walks), used when a centre has none of its own.",
    )
    grid_households_min: int = Field(
        default=150, description="Grids with fewer households are flagged by the standards."
    )
    grid_households_max: int = Field(
        default=500, description="Grids with more households are flagged by the standards."
    )
    siting_max_pairs: int = Field(
        default=20_000_000,
        description="Largest siting problem (demand points × candidate sites) accepted.",
    )
    public_url: str | None = Field(
        default=None,
        description="The address users reach the service at (e.g. https://grid.example.gov.cn"
        "/gridmap): absolute links in TileJSON, OGC API and pages use it, never a client's "
        "Host header; unset, the address the connection reached.",
        pattern=r"^https?://[^/?#\s]+(/[^?#\s]*)?$",
    )
    tianditu_key: str | None = Field(
        default=None, description="Tianditu (天地图) key for its base map on map pages."
    )
    siting_time_limit_s: float = Field(
        default=20.0, description="Time bound of the siting solver, in seconds."
    )
    analysis_max_grids: int = Field(
        default=100_000, ge=1, description="Most grids one coverage or standards analysis covers."
    )
    analysis_max_buildings: int = Field(
        default=500_000,
        ge=1,
        description="Most buildings (addresses with households) one analysis reads.",
    )
    analysis_concurrency: int = Field(
        default=2, ge=1, description="Analyses one API key may run at once (per worker)."
    )
    rate_limits: dict[str, int] = Field(
        default={"analysis": 120, "batch": 600, "export": 60, "maps": 600},
        description="Requests per minute one caller (API key, else client address) may make "
        "to each family of expensive endpoints (per worker); 429 with Retry-After beyond. "
        "Generous for pages and batches: an office behind one NAT address shares them.",
    )

    tile_cache_bytes: int = Field(
        default=64_000_000,
        ge=0,
        description="Size of each worker's in-process vector tile cache (LRU, bytes); 0 turns "
        "the cache off.",
    )
    tile_max_zoom: int = Field(
        default=22, ge=0, le=30, description="Deepest zoom level vector tiles are served at."
    )
    tile_max_features: int = Field(
        default=10_000, ge=1, description="Most features one layer of one vector tile holds."
    )
    tile_max_age_s: int = Field(
        default=60,
        ge=0,
        description="Cache-Control max-age of current tiles and TileJSON (tiles of an `as_of` "
        "version are immutable).",
    )

    @field_validator("replica_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        """``a,b`` from the environment; a list as it is."""
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @property
    def fenced(self) -> bool:
        """Whether each answer waits for the primary's newest version (``version_fence``)."""
        return bool(self.replica_urls) if self.version_fence is None else self.version_fence

    @property
    def embedded(self) -> bool:
        """True when gridmap owns the database cluster itself."""
        return not self.database_url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests pass their own ``Settings``)."""
    return Settings()
