"""Request and response models of boundary edits (``POST /api/v1/edits``): the operations an
edit session applies in order, and its answer — an upload report with the draft's regions
(``api.schemas`` describes the other endpoints; the same rules hold)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from api.schemas import UploadAnswer
from api.text import Code, LongText


class SplitOperation(BaseModel):
    """Cut a region in two along a line (``gis.edit.operations.split``)."""

    op: Literal["split"]
    code: Code
    line: dict[str, Any] = Field(description="GeoJSON LineString crossing the region")


class MergeOperation(BaseModel):
    """Merge adjacent sibling regions into one of them (``gis.edit.operations.merge``)."""

    op: Literal["merge"]
    codes: list[Code] = Field(min_length=2, max_length=100)
    into: Code


class ReshapeOperation(BaseModel):
    """Give a region a new outline; its siblings follow (``gis.edit.operations.reshape``)."""

    op: Literal["reshape"]
    code: Code
    geometry: dict[str, Any] = Field(description="GeoJSON Polygon or MultiPolygon")


class AttributesOperation(BaseModel):
    """Set a region's name and attributes (households, population, grid worker …)."""

    op: Literal["attributes"]
    code: Code
    set: dict[str, Any] = Field(max_length=20)


EditOperation = Annotated[
    SplitOperation | MergeOperation | ReshapeOperation | AttributesOperation,
    Field(discriminator="op"),
]


class EditRequest(BaseModel):
    """An edit session (``POST /api/v1/edits``): operations applied in order."""

    dry_run: bool = Field(default=True, description="Only validate (default)")
    crs: LongText | None = Field(default=None, description="CRS of the geometries (EPSG:4326)")
    operations: list[EditOperation] = Field(min_length=1, max_length=100)


class EditAnswer(UploadAnswer):
    """An edit: the upload it was recorded as, and the draft's regions."""

    regions: dict[str, Any] = Field(
        description="GeoJSON FeatureCollection of the draft's regions, each with its change: "
        "added, modified, removed, unchanged (null when errors blocked the commit)"
    )
