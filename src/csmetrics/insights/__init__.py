"""Text feedback: themes, and feature requests counted across customers (see ``themes`` and
``requests``), over the sentiment ``csmetrics.enrich.sentiment`` stores beside every text."""
