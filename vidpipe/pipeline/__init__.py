"""The manifesting engine: runs, progress, ingest, tags and the five stages."""
