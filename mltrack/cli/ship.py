"""`ml` commands for ship (registered on import)."""
