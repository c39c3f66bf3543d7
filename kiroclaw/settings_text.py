"""Settings in the operator's words: a pydantic validation error becomes one line per invalid setting.

``ALLOWED_TELEGRAM_IDS=42,abc`` reads ``ALLOWED_TELEGRAM_IDS: 'abc' is not a Telegram user id (numbers
separated by commas, e.g. 42,1001)`` instead of pydantic's ``Input should be a valid integer``. Secret
settings (``SecretStr``) never have their value repeated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: list settings whose items are Telegram user ids (the wording names what the numbers are).
_ID_LISTS = {"allowed_telegram_ids", "admin_telegram_ids"}


def _unit(name: str) -> str:
    for suffix, unit in (("_seconds", " of seconds"), ("_mb", " of MiB"), ("_bytes", " of bytes")):
        if name.endswith(suffix):
            return unit
    return ""


def _reason(name: str, err: Mapping[str, Any], shown: str) -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if name in _ID_LISTS and kind == "int_parsing":
        return f"{shown} is not a Telegram user id (numbers separated by commas, e.g. 42,1001)"
    if kind == "int_parsing":
        return f"{shown} is not a whole number{_unit(name)}"
    if kind in ("float_parsing", "float_type"):
        return f"{shown} is not a number{_unit(name)}"
    if kind == "bool_parsing":
        return f"{shown} is not true or false"
    if kind == "greater_than_equal":
        return f"{shown} is too small: the least is {ctx.get('ge')}{_unit(name)}"
    if kind == "greater_than":
        return f"{shown} is too small: it must be more than {ctx.get('gt')}{_unit(name)}"
    if kind in ("less_than_equal", "less_than"):
        return f"{shown} is too large: the most is {ctx.get('le', ctx.get('lt'))}{_unit(name)}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "")
        return f"{shown} is not one of: {expected.replace(' or ', ', ')}"
    message = str(err.get("msg", "is invalid"))
    message = message.removeprefix("Value error, ").replace("Input should be", "should be")
    return f"{shown}: {message}"


def setting_problems(
    errors: Iterable[Mapping[str, Any]], secret_fields: Iterable[str] = (), *, prefix: str = ""
) -> list[str]:
    """One line per invalid setting, named by its environment variable.

    :param errors: ``pydantic.ValidationError.errors()`` of a settings model.
    :param secret_fields: field names whose value is never shown (tokens, keys).
    :param prefix: the model's ``env_prefix`` (a plugin's settings); a location with capitals is an alias,
        already the variable's name.
    :returns: lines such as ``MAX_PROCESSES: '0' is too small: the least is 1``, in the errors' order.
    """
    secrets = set(secret_fields)
    lines: list[str] = []
    for err in errors:
        loc = tuple(err.get("loc") or ("settings",))
        name = str(loc[0])
        variable = name if name.lower() != name else prefix + name
        value = err.get("input")
        shown = "the value" if name in secrets or isinstance(value, (dict, list)) else repr(value)
        if name in secrets and len(loc) == 1 and str(err.get("type")) == "missing":
            shown = "it"
        line = f"{variable.upper()}: {_reason(name.lower(), err, shown)}"
        if line not in lines:
            lines.append(line)
    return lines


def secret_fields(model: type[Any]) -> list[str]:
    """Names of a pydantic model's ``SecretStr`` fields (optional or not)."""
    return [name for name, field in model.model_fields.items() if "SecretStr" in str(field.annotation)]
