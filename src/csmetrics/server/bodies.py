"""Receiving an uploaded file (multipart/form-data) with a size limit, and keeping server
paths out of the messages the API and the dashboard send back.

The routes that take uploads declare no body parameters, so FastAPI reads nothing before
their dependencies (the caller's token or session and role) have been checked; then
:func:`receive_upload` refuses a declared ``Content-Length`` over the limit (413) before
reading a byte, and counts the bytes while it streams the body in, stopping at the limit.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from fastapi import HTTPException, Request, status
from starlette.datastructures import UploadFile
from starlette.types import Message

from csmetrics.ingest.readers import check_upload_name

MB = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A received upload: its text fields, and the file saved under its (cleaned) name."""

    fields: dict[str, str]
    path: Path | None
    name: str
    #: Further files the caller asked for (``also``), by field, when one was sent.
    others: dict[str, Path] = dataclass_field(default_factory=dict)


def too_large(limit_mb: int) -> HTTPException:
    """The 413 refusal, naming the limit and what to do instead."""
    return HTTPException(413,  # Content Too Large (starlette renamed the constant)
                         f"The upload is larger than the limit of {limit_mb} MB "
                         "([server] max_upload_mb); load it with 'csmetrics ingest' instead.")


def check_declared_size(request: Request, limit_mb: int) -> None:
    """413 when the request's ``Content-Length`` is over the limit (nothing read yet)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST,
                            "Content-Length is not a number.") from None
    if size > limit_mb * MB:
        raise too_large(limit_mb)


def upload_name(filename: str | None, default: str = "upload.csv") -> str:
    """A file name safe to create in our own folder: no folders, no leading dots, no
    characters beyond letters, digits, space, dot, dash and underscore."""
    name = re.sub(r"[^\w. -]", "_", Path((filename or "").replace("\\", "/")).name)
    name = name.strip().lstrip(".")
    return name or default


async def receive_upload(request: Request, limit_mb: int, folder: Path,
                         field: str = "file", also: tuple[str, ...] = ()) -> Upload:
    """Read a multipart body of at most ``limit_mb`` MB; the file in ``field`` is saved in
    ``folder`` (which the caller creates and removes), and so is each file sent in a field of
    ``also`` (optional: an empty one is skipped), in a subfolder named after its field. 413
    past the limit, whether or not a ``Content-Length`` was sent."""
    check_declared_size(request, limit_mb)
    limit = limit_mb * MB
    received = 0
    receive = request.receive

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large(limit_mb)
        return message

    form = await Request(request.scope, counted).form(max_files=1 + len(also), max_fields=20)
    try:
        fields: dict[str, str] = {}
        path: Path | None = None
        name = ""
        others: dict[str, Path] = {}
        for key, value in form.multi_items():
            if isinstance(value, UploadFile) and key in also and key not in others:
                if value.filename:
                    (folder / key).mkdir()
                    other = folder / key / upload_name(check_upload_name(value.filename, key))
                    with other.open("wb") as out:
                        shutil.copyfileobj(value.file, out, 1 << 20)
                    others[key] = other
            elif isinstance(value, UploadFile):
                if key != field or path is not None:
                    continue
                # '..', a name with folders or none at all is refused (400 naming the field)
                name = upload_name(check_upload_name(value.filename, field))
                path = folder / name
                with path.open("wb") as out:
                    shutil.copyfileobj(value.file, out, 1 << 20)
            else:
                fields[key] = value
        return Upload(fields, path, name, others)
    finally:
        await form.close()


def public_message(message: str, root: Path | None = None) -> str:
    """``message`` without server paths: the workspace folder and anything under the system's
    temporary folder (an upload's copy, say) shrink to the file's own name."""
    text = message
    if root is not None:
        for prefix in {str(root), os.path.realpath(root)}:
            text = text.replace(prefix + os.sep, "").replace(prefix, "the workspace folder")
    for temp in {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir())}:
        text = re.sub(re.escape(temp) + r"(?:/[^/\s'\"`]+)*/", "", text)
    return text
