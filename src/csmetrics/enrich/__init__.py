"""Enrichment: facts derived from the loaded rows and stored beside them in the warehouse,
below the metrics that read them (today the sentiment of every free text, see ``sentiment``)."""
