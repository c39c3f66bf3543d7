"""Ask the Bot API who the bot is (``getMe``) before ``kiroclaw run`` imports aiogram.

Standard library only (``urllib``), so a revoked token or a missing network is reported in well under a
second, as one line, instead of a traceback after aiogram's import and retries. Like aiogram, it ignores
``HTTP(S)_PROXY`` variables. The token is part of the request URL and is never shown.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlparse

from ..errors import ConfigError

#: Telegram's public Bot API, used when ``TELEGRAM_API_BASE`` is not set.
DEFAULT_API_BASE = "https://api.telegram.org"
#: seconds to wait for the Bot API's answer to ``getMe``.
PREFLIGHT_TIMEOUT_SECONDS = 10.0


class BotApiError(ConfigError):
    """The Bot API refused the token or could not be reached; the message is one line for the operator."""

    code = "bot_api"


def _host(base: str) -> str:
    parsed = urlparse(base)
    return parsed.netloc.rpartition("@")[2] or base


def check_bot_api(token: str, api_base: str | None = None, *, timeout: float = PREFLIGHT_TIMEOUT_SECONDS) -> str:
    """Call ``getMe`` once and return the bot's ``@username`` (without ``@``).

    :param token: the BotFather token (``<digits>:<secret>``).
    :param api_base: ``TELEGRAM_API_BASE`` or ``None`` for Telegram's own server.
    :param timeout: seconds for connecting and for the answer.
    :raises BotApiError: 401 ("Telegram rejected BOT_TOKEN (401)…"), no connection ("cannot reach the Bot
        API at <host> (DNS/connect)…"), a timeout, or an answer that is not the Bot API's.
    """
    base = (api_base or DEFAULT_API_BASE).rstrip("/")
    host = _host(base)
    request = urllib.request.Request(f"{base}/bot{token}/getMe", method="POST", data=b"")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(1 << 16)
    except urllib.error.HTTPError as exc:
        description = _description(exc)
        if exc.code == 401:
            raise BotApiError("Telegram rejected BOT_TOKEN (401): copy it again from @BotFather /token") from None
        if exc.code == 404:
            raise BotApiError(
                f"the Bot API at {host} does not know this BOT_TOKEN (404 {description}): copy it again from "
                "@BotFather /token, and check TELEGRAM_API_BASE"
            ) from None
        raise BotApiError(
            f"the Bot API at {host} answered getMe with {exc.code} {description}: try again later or check "
            "TELEGRAM_API_BASE"
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _timeout(host, timeout) from None
        raise BotApiError(
            f"cannot reach the Bot API at {host} (DNS/connect): check the network or TELEGRAM_API_BASE",
            detail=str(exc.reason),
        ) from None
    except TimeoutError:
        raise _timeout(host, timeout) from None
    except OSError as exc:
        raise BotApiError(
            f"cannot reach the Bot API at {host} (DNS/connect): check the network or TELEGRAM_API_BASE",
            detail=str(exc),
        ) from None
    try:
        data = json.loads(body)
        username = data["result"]["username"] if data.get("ok") else None
    except (ValueError, KeyError, TypeError, AttributeError):
        username = None
    if not isinstance(username, str):
        raise BotApiError(f"{host} did not answer getMe like a Bot API: check TELEGRAM_API_BASE")
    return username


def _timeout(host: str, timeout: float) -> BotApiError:
    return BotApiError(
        f"the Bot API at {host} did not answer within {timeout:g} s: check the network or TELEGRAM_API_BASE"
    )


def _description(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read(1 << 14))
        text = str(data.get("description") or exc.reason)
    except (ValueError, AttributeError, OSError):
        text = str(exc.reason)
    return " ".join(text.split())[:120]
