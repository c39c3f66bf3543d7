"""The bot's feature routers; each module builds a fresh ``Router`` (and its menu commands) per dispatcher."""
