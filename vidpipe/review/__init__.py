"""What people do with a manifest: export, bulk edit, asset references."""
