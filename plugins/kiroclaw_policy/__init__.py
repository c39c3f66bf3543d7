"""Built-in plugin `policy` (placeholder: registers nothing yet)."""
