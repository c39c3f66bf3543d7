"""Core behaviour registered directly on every host (cannot be disabled)."""
