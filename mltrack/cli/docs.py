"""`ml` commands for docs (registered on import)."""
