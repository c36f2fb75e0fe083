"""Operating a project: status, doctor, diagnostics, server checks, daemon state."""
