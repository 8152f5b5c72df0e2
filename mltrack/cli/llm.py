"""`ml` commands for llm (registered on import)."""
