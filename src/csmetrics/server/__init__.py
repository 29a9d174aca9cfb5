"""What the JSON API (``csmetrics.api``) and the dashboard (``csmetrics.web``) share: the open
workspace behind the app and the caller of each request (see ``deps``). Both import it; it
imports neither, so they form no cycle."""
