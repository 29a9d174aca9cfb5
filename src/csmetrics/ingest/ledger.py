"""The batch ledger: what was loaded, when, by whom, and what it changed."""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from csmetrics.clock import default_clock
from csmetrics.store.sql import first


@dataclass(frozen=True)
class Batch:
    """One load, as recorded in ``_batches``."""

    batch_id: int
    table: str
    files: list[str]
    content_hash: str
    mode: str
    rows_read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    orphans: int
    loaded_by: str
    loaded_at: datetime


def content_hash(paths: Sequence[Path], extra: str = "") -> str:
    """SHA-256 over the files' bytes (in order) and ``extra`` (e.g. the mapping used)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    digest.update(extra.encode())
    return digest.hexdigest()


def current_user() -> str:
    """The operating-system user running the load."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def record(con: duckdb.DuckDBPyConnection, batch: dict[str, object]) -> int:
    """Append a batch to the ledger (inside the caller's transaction); return its id."""
    row = first(con.execute("SELECT coalesce(max(batch_id), 0) + 1 FROM _batches"))
    batch_id = int(row[0]) if row else 1
    con.execute(
        "INSERT INTO _batches VALUES ($batch_id, $table, $files, $content_hash, $mode, "
        "$rows_read, $inserted, $updated, $unchanged, $deleted, $orphans, $loaded_by, $at)",
        {**batch, "batch_id": batch_id, "at": default_clock().now()},
    )
    return batch_id


def list_batches(con: duckdb.DuckDBPyConnection, table: str | None = None) -> list[Batch]:
    """Every recorded load, newest first, optionally for one table."""
    sql = (
        "SELECT batch_id, table_name, files, content_hash, mode, rows_read, inserted, updated, "
        "unchanged, deleted, orphans, loaded_by, loaded_at FROM _batches"
    )
    params: list[object] = []
    if table is not None:
        sql += " WHERE table_name = ?"
        params.append(table)
    rows = con.execute(sql + " ORDER BY batch_id DESC", params).fetchall()
    return [Batch(*row) for row in rows]
