"""The Telegram bot (aiogram 3): ``app`` assembles it, ``routers`` hold one feature each, ``middlewares``
the guard rails, ``format`` the text helpers. Importing this package does not import aiogram."""
