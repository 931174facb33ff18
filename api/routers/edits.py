"""Topology-aware boundary edits (issue 15 §4): split, merge, reshape, attributes — the
workbench's edit page and scripts use the same call."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import EngineDep, SettingsDep
from api.edit_schemas import EditAnswer, EditRequest
from api.responses import checked_write
from api.routers.uploads import Editor
from gis.edit.draft import MAX_OPERATIONS, MAX_VERTICES, run_edit

router = APIRouter(prefix="/api/v1/edits", tags=["uploads"])

_ABOUT = f"""Apply the operations in order to a draft of the edited level under the parents they
touch, validate it exactly like a boundary upload and, with ``dry_run=false``, commit it
as one version (recorded as an upload named ``编辑: …``).

* ``{{"op": "reshape", "code": C, "geometry": <Polygon>}}``: C gets the outline; the ground
  it gains is cut from its siblings, the ground it gives up goes to the sibling it shares
  the longest edge with — no gap, no overlap; it must stay inside its parent.
* ``{{"op": "split", "code": C, "line": <LineString>}}``: the line crosses C, cutting it in
  two; the larger piece keeps C, the other gets the next free child code of the parent,
  no personal attributes, and households and population by area share.
* ``{{"op": "merge", "codes": [C1, C2, …], "into": C1}}``: adjacent siblings; C1 keeps its
  code, name and attributes, households and population summed; the others are removed.
* ``{{"op": "attributes", "code": C, "set": {{"name": …, "households": …}}}}``.

At most {MAX_OPERATIONS} operations, {MAX_VERTICES} vertices a geometry; geometries in
EPSG:4326 unless ``crs`` says otherwise.  200 with the report and the draft's regions
(each with its ``change``) for a dry run; 201 with the ``version`` when committed; 422
``validation_failed`` (with the report) when errors block the commit, and 422
``invalid_split``/``invalid_merge``/``invalid_attribute``/``invalid_geometry`` for an
operation that cannot be applied — nothing is changed then.
"""


@router.post(
    "",
    summary="Edit boundaries: split, merge, reshape, attributes",
    description=_ABOUT,
    response_model=EditAnswer,
    responses={
        201: {"model": EditAnswer, "description": "Committed as one version."},
        403: {"description": "A region outside the caller's scope (out_of_scope)."},
        404: {"description": "An operation names a region that does not exist."},
    },
)
def edit(
    body: EditRequest, engine: EngineDep, settings: SettingsDep, principal: Editor
) -> JSONResponse:
    """Edit boundaries (see the description): a dry run, or one new version."""
    result = run_edit(
        engine,
        [op.model_dump() for op in body.operations],
        author=principal.name,
        scope=principal.scope,
        settings=settings,
        dry_run=body.dry_run,
        crs=body.crs,
    )
    upload = result.upload
    answer: dict[str, Any] = {
        "id": upload.id,
        "status": upload.status,
        "version": upload.version,
        "report": upload.report,
        "regions": result.regions,
    }
    return checked_write(answer)
