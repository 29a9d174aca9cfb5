"""The JSON API (FastAPI, versioned under /api/v1, OpenAPI at /api/v1/openapi.json)."""

from csmetrics.api.app import create_app

__all__ = ["create_app"]
