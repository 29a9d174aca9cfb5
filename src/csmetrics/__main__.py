"""``python -m csmetrics`` runs the command-line interface."""

from csmetrics.cli import main

main()
