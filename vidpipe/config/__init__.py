"""Settings, trust decisions and settings files."""
