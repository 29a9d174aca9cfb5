"""The API's interactive documentation at ``/api/v1/docs``: Swagger UI 5 from the installed
``swagger-ui-bundle-v2`` package (no CDN, works offline), under the app's
Content-Security-Policy: its scripts and stylesheet are files of this origin, and the script
that starts it is one too (no inline script)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

#: Swagger UI's files the page loads, and their media types.
FILES = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css",
         "favicon-32x32.png": "image/png"}


def mount(app: FastAPI, prefix: str) -> None:
    """Serve the documentation of ``app``'s OpenAPI document under ``prefix``/docs."""
    page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{app.title} API</title>
<link rel="icon" href="{prefix}/docs/favicon-32x32.png">
<link rel="stylesheet" href="{prefix}/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{prefix}/docs/swagger-ui-bundle.js"></script>
<script src="{prefix}/docs/start.js"></script>
</body>
</html>
"""
    start = (f'window.ui = SwaggerUIBundle({{url: "{app.openapi_url}", dom_id: "#swagger-ui", '
             "deepLinking: true, tryItOutEnabled: false});\n")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def documentation() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get(f"{prefix}/docs/start.js", include_in_schema=False)
    def start_script() -> Response:
        return Response(start, media_type="application/javascript")

    @app.get(f"{prefix}/docs/{{name}}", include_in_schema=False)
    def asset(name: str) -> Response:
        if name not in FILES:
            return Response(f"No file {name!r} here.", status_code=404, media_type="text/plain")
        return FileResponse(swagger_ui_path / name, media_type=FILES[name],
                            headers={"Cache-Control": "public, max-age=86400"})
