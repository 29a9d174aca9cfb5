"""Getting data in: readers, mapping, validation, atomic loading and the batch ledger."""

from csmetrics.ingest.ledger import Batch, list_batches
from csmetrics.ingest.load import IngestResult, ingest_files
from csmetrics.ingest.mapping import Mapping

__all__ = ["Batch", "IngestResult", "Mapping", "ingest_files", "list_batches"]
