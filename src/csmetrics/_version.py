"""The package's version, in a module of its own so every layer may read it without
importing the top-level ``csmetrics`` package (which imports the workspace and everything
below it)."""

__version__ = "0.1.0"
