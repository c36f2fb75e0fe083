"""The project's storage: folder, database, models, sessions, safe file access, edits."""
