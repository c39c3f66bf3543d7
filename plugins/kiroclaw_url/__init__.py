"""Built-in plugin `url` (placeholder: registers nothing yet)."""
