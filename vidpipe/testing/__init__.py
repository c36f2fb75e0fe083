"""Test support shipped with the package so that tests and bench/ share it (no production use)."""
