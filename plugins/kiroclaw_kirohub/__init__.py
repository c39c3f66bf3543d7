"""Built-in plugin `kirohub` (placeholder: registers nothing yet)."""
