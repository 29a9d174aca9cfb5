"""The FastAPI application: ``create_app(workspace)``, the JSON API with the dashboard
(``csmetrics.web``) mounted on it. The request dependencies both use live in
``csmetrics.server``, so the dashboard never imports the API back."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from csmetrics._version import __version__
from csmetrics.api import docs
from csmetrics.api.models import ErrorResponse
from csmetrics.api.routers import admin, customers, data, health, metrics, tasks
from csmetrics.errors import CsMetricsError, UnknownNameError, UserInputError, ValidationError
from csmetrics.server.bodies import public_message
from csmetrics.server.deps import Site
from csmetrics.server.headers import SecurityHeaders
from csmetrics.web import mount
from csmetrics.workspace import Workspace

PREFIX = "/api/v1"


def create_app(workspace: Workspace | Path) -> FastAPI:
    """The API for one workspace; every route but ``/api/v1/live`` needs a token."""
    if isinstance(workspace, Path):
        workspace = Workspace.load(workspace)
    app = FastAPI(
        title="csmetrics", version=__version__,
        description="Customer-success metrics, customers and data loading for one workspace.",
        openapi_url=f"{PREFIX}/openapi.json", docs_url=None, redoc_url=None,  # see api.docs
        responses={400: {"model": ErrorResponse}, 401: {"model": ErrorResponse},
                   403: {"model": ErrorResponse}, 404: {"model": ErrorResponse},
                   422: {"model": ErrorResponse}},
    )
    app.state.site = Site(workspace)
    app.add_middleware(SecurityHeaders)
    for router in (metrics.router, customers.router, health.router, tasks.router,
                   data.router, admin.router):
        app.include_router(router, prefix=PREFIX)

    @app.get(f"{PREFIX}/live", tags=["system"], summary="Liveness check (no token needed)")
    def live() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    _error_handlers(app)
    docs.mount(app, PREFIX)  # Swagger UI from the installed package, not a CDN
    mount(app)  # the dashboard shares the app (and its workspace)
    return app


def _error(status: int, message: str, field: str | None = None,
           request: Request | None = None) -> JSONResponse:
    """The JSON error; with ``request``, server paths are taken out of the message."""
    if request is not None:
        message = public_message(message, request.app.state.site.workspace.root)
    return JSONResponse({"error": {"message": message, "field": field}}, status_code=status)


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ValidationError)
    def invalid_rows(request: Request, exc: ValidationError) -> JSONResponse:
        response = _error(422, str(exc), request=request)
        return response

    @app.exception_handler(UnknownNameError)
    def unknown(request: Request, exc: UnknownNameError) -> JSONResponse:
        return _error(404, str(exc), request=request)

    @app.exception_handler(UserInputError)
    def bad_input(request: Request, exc: UserInputError) -> JSONResponse:
        return _error(400, str(exc), getattr(exc, "field", None), request)

    @app.exception_handler(CsMetricsError)
    def internal(request: Request, exc: CsMetricsError) -> JSONResponse:
        return _error(500, f"Internal error (please report): {exc}", request=request)

    @app.exception_handler(RequestValidationError)
    def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first["loc"] if p not in ("body", "query", "path"))
        return _error(422, f"{field or 'request'}: {first['msg']}", field or None)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(exc.status_code, str(exc.detail))
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response
