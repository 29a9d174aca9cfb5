"""``POST /api/v1/_cli``: a CLI command typed on the served workspace, run in this server.

Mounted by ``csmetrics serve`` only (``mount``), left out of the OpenAPI document, and
answered only on loopback with the secret the server wrote into ``.csmetrics/server.json``
(readable by the workspace's owner alone). The reply streams JSON lines: ``{"stream": "out"
| "err", "text": ...}`` as the command prints, then ``{"exit": code}``.
"""

from __future__ import annotations

import hmac
import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

#: Runs ``argv`` as typed in ``folder`` against the site, passing output to ``emit(stream,
#: text)``; returns the exit code (``csmetrics.cli.bridge.run_forwarded``).
Runner = Callable[[Any, Sequence[str], str, Callable[[str, str], None]], int]

LOOPBACK = frozenset({"127.0.0.1", "::1"})


class Command(BaseModel):
    """A command line and the folder it was typed in."""

    argv: list[str] = Field(max_length=1000)
    folder: str = Field(max_length=4096)


def mount(app: FastAPI, secret: str, runner: Runner, prefix: str = "/api/v1") -> None:
    """Add the route to ``app``, answering callers that send ``secret``."""

    @app.post(f"{prefix}/_cli", include_in_schema=False)
    def run_command(request: Request, command: Command,
                    x_csmetrics_secret: Annotated[str, Header()] = "") -> StreamingResponse:
        client = request.client.host if request.client else ""
        if client not in LOOPBACK or not hmac.compare_digest(x_csmetrics_secret, secret):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "Only the csmetrics command on this "
                                "machine, with the server's secret, may run commands here.")
        lines: queue.Queue[str | None] = queue.Queue()

        def emit(stream: str, text: str) -> None:
            lines.put(json.dumps({"stream": stream, "text": text}) + "\n")

        def work() -> None:
            try:
                code = runner(request.app.state.site, command.argv, command.folder, emit)
                lines.put(json.dumps({"exit": code}) + "\n")
            finally:
                lines.put(None)

        threading.Thread(target=work, name="csmetrics-cli", daemon=True).start()

        def relay() -> Iterator[str]:
            while (line := lines.get()) is not None:
                yield line

        return StreamingResponse(relay(), media_type="application/x-ndjson")
