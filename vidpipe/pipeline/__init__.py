"""The manifesting engine: runs, progress, ingest, tags, characters and the stages."""
