"""File downloads from list routes: ``?format=csv|parquet|xlsx`` returns the rows as a file."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import Query
from fastapi.responses import Response

from csmetrics.reports.export import FORMATS, content_disposition, download_name, frame_bytes

__all__ = ["FILE_RESPONSES", "FormatQuery", "file_response"]

FormatQuery = Annotated[
    Literal["json", "csv", "parquet", "xlsx"],
    Query(
        alias="format",
        description="json (default) answers with JSON; csv, parquet or xlsx (Excel) answer "
        "with the same rows as a file to download (Content-Disposition: attachment), every "
        "matching row in one file. Dates stay dates in Parquet and Excel; Excel shows "
        "timestamps in the workspace's time zone. Any other value is a 422 that names the "
        "accepted ones.",
    ),
]

FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with ?format= the rows as a CSV, Parquet or Excel file.",
        "content": {spec.media_type.split(";")[0]: {"schema": {"type": "string",
                                                                "format": "binary"}}
                    for spec in FORMATS.values()},
    }
}
"""OpenAPI ``responses`` for a route that can also answer with a file."""


def file_response(frame: pd.DataFrame, fmt: str, stem: str, *, timezone: str) -> Response:
    """``frame`` as a downloadable file named ``stem`` plus the format's extension."""
    content, media_type = frame_bytes(frame, fmt, sheet=stem, timezone=timezone)
    name = download_name(stem, fmt)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": content_disposition(name)})
