"""`ml` commands for registry (registered on import)."""
