"""Built-in source ``local``: install a folder (placeholder: registers nothing yet)."""
