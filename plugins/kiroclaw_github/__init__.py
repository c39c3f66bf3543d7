"""Built-in plugin `github` (placeholder: registers nothing yet)."""
