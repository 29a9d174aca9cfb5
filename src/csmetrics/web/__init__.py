"""The web dashboard: server-rendered pages with plotly charts, behind a login."""

from fastapi import FastAPI

from csmetrics.web import admin, pages, tasks


def mount(app: FastAPI) -> None:
    """Add the dashboard's routes to the app (tasks, rules, admin and account before the
    pages' catch-all)."""
    app.include_router(tasks.router)
    app.include_router(admin.router)
    pages.mount(app)


__all__ = ["mount"]
