"""Validate the JSON-RPC messages KiroClaw sends against the official ACP v1 JSON Schema.

``data/acp-v1-schema.json`` is ``schema/v1/schema.json`` of the npm package ``@agentclientprotocol/sdk``
2.4.0 (pinned in ``.ci/setup.d/agents.sh``; re-copy it when the pin moves). Each definition carries
``x-method``: a request or notification is checked against its method's ``…Request``/``…Notification``
definition, a response to the agent's ``session/request_permission`` against ``RequestPermissionResponse``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

SCHEMA_FILE = Path(__file__).parent / "data" / "acp-v1-schema.json"
SCHEMA_SOURCE = "@agentclientprotocol/sdk@2.4.0 schema/v1/schema.json"
#: Sent only to agents that advertise ``models`` the old way (kiro-cli); not in the v1 schema.
LEGACY = {"session/set_model"}


@cache
def _schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


@cache
def _definitions() -> dict[str, str]:
    out = {}
    for name, body in _schema()["$defs"].items():
        method = body.get("x-method")
        if method and body.get("x-side") == "agent" and not name.endswith("Response"):
            out[method] = name
    return out


def _validate(definition: str, instance: Any) -> list[str]:
    from jsonschema import Draft202012Validator

    validator = Draft202012Validator({"$ref": f"#/$defs/{definition}", "$defs": _schema()["$defs"]})
    return [f"{definition}: {e.message} at {list(e.absolute_path)}" for e in validator.iter_errors(instance)]


def problems(message: dict[str, Any]) -> list[str]:
    """What is wrong with one message the client sent (``[]`` = valid)."""
    if message.get("jsonrpc") != "2.0":
        return ["jsonrpc is not 2.0"]
    method = message.get("method")
    if method is None:  # a response to an agent request
        if "error" in message:
            return []
        return _validate("RequestPermissionResponse", message.get("result"))
    if method in LEGACY:
        return []
    definition = _definitions().get(method)
    if definition is None:
        return [f"{method}: not a client-to-agent method of ACP v1"]
    return _validate(definition, message.get("params"))
