"""The web dashboard: server-rendered pages with plotly charts, behind a login."""

from csmetrics.web.pages import mount

__all__ = ["mount"]
