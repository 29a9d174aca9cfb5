"""The web dashboard: server-rendered pages with plotly charts, behind a login."""

from fastapi import FastAPI

from csmetrics.web import pages, tasks


def mount(app: FastAPI) -> None:
    """Add the dashboard's routes to the app (tasks and rules before the pages' catch-all)."""
    app.include_router(tasks.router)
    pages.mount(app)


__all__ = ["mount"]
