"""`ml` commands for server (registered on import)."""
