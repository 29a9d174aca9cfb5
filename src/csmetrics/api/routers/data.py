"""Getting data in over HTTP (uploads and JSON pushes) and refreshing the metrics."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from csmetrics.api.models import ErrorResponse, IngestSummary, RefreshSummary
from csmetrics.errors import FieldError, UserInputError
from csmetrics.ingest import IngestResult
from csmetrics.schema import get_table
from csmetrics.server.bodies import receive_upload
from csmetrics.server.deps import Editor, SiteDep

router = APIRouter(tags=["data"])


_UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary",
                                "description": "CSV, Parquet or JSON lines (.gz too)"},
                       "replace_columns": {
                           "type": "boolean", "default": False,
                           "description": "Replace whole rows of existing keys: columns the "
                           "file lacks become empty (by default they keep their stored "
                           "values)."}}}}}}}


@router.post("/ingest/{table}", response_model=IngestSummary, summary="Upload a file",
             openapi_extra=_UPLOAD_BODY,
             responses={413: {"model": ErrorResponse, "description": "Over [server] "
                              "max_upload_mb"}})
async def upload(
    request: Request,
    table: str,
    user: Editor,
    site: SiteDep,
    replace: bool = False,
    allow_orphans: bool = False,
) -> IngestSummary:
    """Validate and load one file into a table, all or nothing (like ``csmetrics ingest``).
    The token and role are checked before the body is read; a body over ``[server]
    max_upload_mb`` is refused (413) unstored."""
    get_table(table)
    limit = site.workspace.settings.server.max_upload_mb
    with tempfile.TemporaryDirectory(prefix="csmetrics-upload-") as folder:
        received = await receive_upload(request, limit, Path(folder))
        if received.path is None:
            raise FieldError("file", "Send the file as the multipart form field 'file'.")
        path = received.path
        replace_columns = _flag(received.fields, "replace_columns")

        def load() -> IngestResult:
            with site.writing() as ws:
                return ws.ingest(table, [path], replace=replace, allow_orphans=allow_orphans,
                                 replace_columns=replace_columns,
                                 loaded_by=f"{user.username} (api)")

        result = await run_in_threadpool(load)
    return _summary(result)


@router.post("/events", response_model=IngestSummary, summary="Push usage events")
def push_events(records: list[dict[str, Any]], user: Editor, site: SiteDep,
                allow_orphans: Annotated[bool, Query()] = False) -> IngestSummary:
    """Load usage events sent as a JSON array of objects (canonical column names)."""
    return _push("usage_events", records, user.username, site, allow_orphans)


@router.post("/survey-responses", response_model=IngestSummary,
             summary="Push survey responses")
def push_responses(records: list[dict[str, Any]], user: Editor, site: SiteDep,
                   allow_orphans: Annotated[bool, Query()] = False) -> IngestSummary:
    """Load survey answers sent as a JSON array of objects (canonical column names)."""
    return _push("survey_responses", records, user.username, site, allow_orphans)


@router.post("/refresh", response_model=RefreshSummary, summary="Recompute every metric")
def refresh(user: Editor, site: SiteDep) -> RefreshSummary:
    """Recompute and store every metric for all periods and default segments."""
    with site.writing() as ws:
        run = ws.refresh()
    return RefreshSummary(**run)  # type: ignore[arg-type]


def _flag(fields: dict[str, str], field: str) -> bool:
    """A true/false form field (absent or empty: false); anything else is a 400 naming it."""
    text = fields.get(field, "").strip().lower()
    if text in ("true", "1", "on", "yes"):
        return True
    if text in ("", "false", "0", "off", "no"):
        return False
    raise FieldError(field, f"{field}: {fields[field]!r} is not true or false.")


def _push(table: str, records: list[dict[str, Any]], username: str, site: Any,
          allow_orphans: bool) -> IngestSummary:
    if not records:
        raise UserInputError("Send at least one record (a JSON array of objects).")
    with tempfile.TemporaryDirectory(prefix="csmetrics-push-") as folder:
        path = Path(folder) / f"{table}.jsonl"
        path.write_text("\n".join(json.dumps(r, default=str) for r in records) + "\n")
        with site.writing() as ws:
            result = ws.ingest(table, [path], allow_orphans=allow_orphans,
                               loaded_by=f"{username} (api)")
    return _summary(result)


def _summary(result: IngestResult) -> IngestSummary:
    return IngestSummary(
        batch_id=result.batch_id, table=result.table, rows_read=result.rows_read,
        inserted=result.inserted, updated=result.updated, unchanged=result.unchanged,
        deleted=result.deleted, orphans=result.orphans, extra_columns=result.extra_columns,
        summary=result.summary())
