"""Getting data in over HTTP (uploads and JSON pushes) and refreshing the metrics."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Query, UploadFile

from csmetrics.api.models import IngestSummary, RefreshSummary
from csmetrics.errors import UserInputError
from csmetrics.ingest import IngestResult
from csmetrics.schema import get_table
from csmetrics.server.deps import Editor, SiteDep

router = APIRouter(tags=["data"])
MAX_UPLOAD = 512 * 1024 * 1024


@router.post("/ingest/{table}", response_model=IngestSummary, summary="Upload a file")
def upload(
    table: str,
    file: Annotated[UploadFile, File(description="CSV, Parquet or JSON lines (.gz too)")],
    user: Editor,
    site: SiteDep,
    replace: bool = False,
    allow_orphans: bool = False,
) -> IngestSummary:
    """Validate and load one file into a table, all or nothing (like ``csmetrics ingest``)."""
    get_table(table)
    name = Path(file.filename or "upload.csv").name
    with tempfile.TemporaryDirectory(prefix="csmetrics-upload-") as folder:
        path = Path(folder) / name
        size = 0
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise UserInputError(f"{name} is over {MAX_UPLOAD >> 20} MB; load it with "
                                         "the csmetrics ingest command instead.")
                out.write(chunk)
        with site.use() as ws:
            result = ws.ingest(table, [path], replace=replace, allow_orphans=allow_orphans,
                               loaded_by=f"{user.username} (api)")
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
    with site.use() as ws:
        run = ws.refresh()
    return RefreshSummary(**run)  # type: ignore[arg-type]


def _push(table: str, records: list[dict[str, Any]], username: str, site: Any,
          allow_orphans: bool) -> IngestSummary:
    if not records:
        raise UserInputError("Send at least one record (a JSON array of objects).")
    with tempfile.TemporaryDirectory(prefix="csmetrics-push-") as folder:
        path = Path(folder) / f"{table}.jsonl"
        path.write_text("\n".join(json.dumps(r, default=str) for r in records) + "\n")
        with site.use() as ws:
            result = ws.ingest(table, [path], allow_orphans=allow_orphans,
                               loaded_by=f"{username} (api)")
    return _summary(result)


def _summary(result: IngestResult) -> IngestSummary:
    return IngestSummary(
        batch_id=result.batch_id, table=result.table, rows_read=result.rows_read,
        inserted=result.inserted, updated=result.updated, unchanged=result.unchanged,
        deleted=result.deleted, orphans=result.orphans, extra_columns=result.extra_columns,
        summary=result.summary())
