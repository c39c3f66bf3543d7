"""A fake model server on 127.0.0.1 for the real ACP agents: Anthropic Messages (Claude), OpenAI Responses
(Codex) and Gemini ``streamGenerateContent``, each streamed as SSE the way the vendor's API streams it.

What the "model" answers depends on the last user text of the request (so a test decides the turn):

* ``list skills`` → ``skills: a, b, c`` — the skill names found in the request, sorted (Claude lists skills
  as ``- name: description`` lines after "The following skills are available"; Codex and Gemini name each
  skill's ``…/<name>/SKILL.md``). This is how a test sees, on the model's side, which skills an agent got.
* ``slow N`` → ``word1 … wordN``, one SSE chunk every ``slow_delay_s`` (a turn to cancel or kill mid-way).
* ``run: COMMAND`` → a shell tool call running ``COMMAND`` (the agent's own shell tool, found in the
  request's tool list); once the tool's result is in the request → ``tool done: <first line of output>``.
* anything else → ``echo: <text>``.

``FakeModel.status`` set to 401 answers every request with the vendor's authentication error. Requests
are kept in ``FakeModel.requests`` (path and JSON body) for assertions.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

_CLAUDE_SKILLS = re.compile(r"^- ([a-z0-9][a-z0-9-]{0,63}): ", re.MULTILINE)
_SKILL_FILE = re.compile(r"/([a-z0-9][a-z0-9-]{0,63})/SKILL\.md")
_SHELL_TOOLS = ("Bash", "shell", "exec_command", "shell_command", "local_shell", "run_shell_command")


@dataclass
class Seen:
    """One request the fake model received."""

    path: str
    body: dict[str, Any]


@dataclass
class FakeModel:
    """The server. ``await start()`` → ``base`` is ``http://127.0.0.1:<port>``; ``await stop()``."""

    slow_delay_s: float = 0.3
    status: int = 200
    requests: list[Seen] = field(default_factory=list)
    base: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def skill_requests(self) -> list[list[str]]:
        """For every request that carried skills, the names found (sorted)."""
        return [names for seen in self.requests if (names := skills_in(seen.body))]

    # --- routing ----------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        try:
            body = await request.json() if request.can_read_body else {}
        except json.JSONDecodeError:
            body = {}
        self.requests.append(Seen(path, body if isinstance(body, dict) else {}))
        try:
            return await self._route(request, path, body)
        except ConnectionResetError:  # the agent hung up mid-stream (a cancel or a kill): nothing to answer
            return web.Response(status=499)

    async def _route(self, request: web.Request, path: str, body: Any) -> web.StreamResponse:
        if path.endswith("/messages/count_tokens"):
            return web.json_response({"input_tokens": 100})
        if path.endswith("/messages"):
            return await self._anthropic(request, body)
        if path.endswith("/responses"):
            return await self._openai(request, body)
        if ":streamGenerateContent" in path or ":generateContent" in path:
            return await self._gemini(request, body, stream=":stream" in path)
        if path.endswith("/models") or ("/models" in path and request.method == "GET"):
            return web.json_response({"data": [], "models": [], "object": "list"})
        return web.json_response({"error": {"message": f"fake model: no route {path}"}}, status=404)

    # --- Anthropic Messages -------------------------------------------------------------------------

    async def _anthropic(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if self.status == 401:
            return web.json_response(
                {"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}},
                status=401,
            )
        text, tool_output = _anthropic_last(body)
        plan = _plan(text, tool_output, skills_in(body), [t.get("name", "") for t in body.get("tools") or []])
        if not body.get("stream"):
            content: list[dict[str, Any]] = [{"type": "text", "text": " ".join(plan.words) or "ok"}]
            return web.json_response(
                {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model", "fake"),
                    "content": content,
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 5},
                }
            )
        resp = await _sse(request)
        await _event(
            resp,
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": body.get("model", "fake"),
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 1},
                },
            },
        )
        index = 0
        if plan.words:
            await _event(
                resp,
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
            for word in plan.words:
                await _event(
                    resp,
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}},
                )
                if plan.delay_s:
                    await asyncio.sleep(plan.delay_s)
            await _event(resp, "content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        stop = "end_turn"
        if plan.tool is not None:
            name, command = plan.tool
            await _event(
                resp,
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_fake{len(self.requests)}",
                        "name": name,
                        "input": {},
                    },
                },
            )
            await _event(
                resp,
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {
                        "type": "input_json_delta",
                        "partial_json": json.dumps({"command": command, "description": "run a command"}),
                    },
                },
            )
            await _event(resp, "content_block_stop", {"type": "content_block_stop", "index": index})
            stop = "tool_use"
        await _event(
            resp,
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        )
        await _event(resp, "message_stop", {"type": "message_stop"})
        return resp

    # --- OpenAI Responses ---------------------------------------------------------------------------

    async def _openai(self, request: web.Request, body: dict[str, Any]) -> web.StreamResponse:
        if self.status == 401:
            return web.json_response(
                {
                    "error": {
                        "message": "Incorrect API key provided",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
                status=401,
            )
        text, tool_output = _openai_last(body)
        tools = [t.get("name") or t.get("type", "") for t in body.get("tools") or []]
        plan = _plan(text, tool_output, skills_in(body), tools)
        resp = await _sse(request)
        rid = f"resp_fake{len(self.requests)}"
        base = {"id": rid, "object": "response", "created_at": 0, "model": body.get("model", "fake")}
        await _event(
            resp,
            "response.created",
            {"type": "response.created", "response": {**base, "status": "in_progress", "output": []}},
        )
        output: list[dict[str, Any]] = []
        if plan.words:
            mid = f"msg_{rid}"
            await _event(
                resp,
                "response.output_item.added",
                {
                    "type": "response.output_item.added",
                    "output_index": 0,
                    "item": {"type": "message", "id": mid, "role": "assistant", "status": "in_progress", "content": []},
                },
            )
            for word in plan.words:
                await _event(
                    resp,
                    "response.output_text.delta",
                    {
                        "type": "response.output_text.delta",
                        "item_id": mid,
                        "output_index": 0,
                        "content_index": 0,
                        "delta": word,
                    },
                )
                if plan.delay_s:
                    await asyncio.sleep(plan.delay_s)
            item = {
                "type": "message",
                "id": mid,
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "".join(plan.words), "annotations": []}],
            }
            await _event(
                resp,
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": 0, "item": item},
            )
            output.append(item)
        if plan.tool is not None:
            name, command = plan.tool
            # Codex runs exec_command in its sandbox; asking for escalation is what makes it request approval.
            args: dict[str, Any] = {"command": ["bash", "-lc", command]}
            if name == "exec_command":
                args = {"cmd": command, "sandbox_permissions": "require_escalated", "justification": "the user asked"}
            if name == "shell_command":
                args = {"command": command}
            item = {
                "type": "function_call",
                "id": f"fc_{rid}",
                "call_id": f"call_{rid}",
                "name": name,
                "arguments": json.dumps(args),
                "status": "completed",
            }
            await _event(
                resp,
                "response.output_item.added",
                {"type": "response.output_item.added", "output_index": len(output), "item": item},
            )
            await _event(
                resp,
                "response.output_item.done",
                {"type": "response.output_item.done", "output_index": len(output), "item": item},
            )
            output.append(item)
        usage = {
            "input_tokens": 10,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 5,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 15,
        }
        await _event(
            resp,
            "response.completed",
            {
                "type": "response.completed",
                "response": {**base, "status": "completed", "output": output, "usage": usage},
            },
        )
        return resp

    # --- Gemini -------------------------------------------------------------------------------------

    async def _gemini(self, request: web.Request, body: dict[str, Any], *, stream: bool) -> web.StreamResponse:
        if self.status == 401:
            return web.json_response(
                {
                    "error": {
                        "code": 401,
                        "message": "API key not valid. Please pass a valid API key.",
                        "status": "UNAUTHENTICATED",
                    }
                },
                status=401,
            )
        text, tool_output = _gemini_last(body)
        tools = [d.get("name", "") for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
        plan = _plan(text, tool_output, skills_in(body), tools)
        usage = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}
        if not stream:
            parts: list[dict[str, Any]] = [{"text": "".join(plan.words) or "ok"}]
            return web.json_response(
                {
                    "candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}],
                    "usageMetadata": usage,
                }
            )
        resp = await _sse(request)
        for word in plan.words:
            await _data(
                resp,
                {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": word}]}, "index": 0}],
                    "usageMetadata": usage,
                },
            )
            if plan.delay_s:
                await asyncio.sleep(plan.delay_s)
        final: dict[str, Any] = {"role": "model", "parts": [{"text": ""}]}
        if plan.tool is not None:
            final["parts"] = [{"functionCall": {"name": plan.tool[0], "args": {"command": plan.tool[1]}}}]
        await _data(
            resp, {"candidates": [{"content": final, "finishReason": "STOP", "index": 0}], "usageMetadata": usage}
        )
        return resp


@dataclass
class _Plan:
    words: list[str]
    delay_s: float = 0.0
    tool: tuple[str, str] | None = None


def _plan(text: str, tool_output: str | None, skills: list[str], tools: list[str]) -> _Plan:
    text = text.strip()
    if tool_output is not None:
        lines = [x for x in tool_output.strip().splitlines() if x.strip() and not x.lstrip().startswith("<")]
        first = lines[0] if lines else ""
        return _Plan([f"tool done: {first}"])
    lower = text.lower()
    if lower.startswith("list skills"):
        return _Plan([f"skills: {', '.join(skills) if skills else '(none)'}"])
    match = re.match(r"slow (\d+)", lower)
    if match:
        count = int(match.group(1))
        return _Plan([f"word{i}" + (" " if i < count else "") for i in range(1, count + 1)], delay_s=0.3)
    if lower.startswith("run: "):
        shell = next((t for t in _SHELL_TOOLS if t in tools), None)
        if shell is None:
            return _Plan([f"no shell tool among {sorted(tools)}"])
        return _Plan([], tool=(shell, text[5:].strip()))
    return _Plan([f"echo: {text}"])


def skills_in(body: Any) -> list[str]:
    """Skill names a request carries (Claude's ``- name: description`` list, or ``…/<name>/SKILL.md``)."""
    names: set[str] = set()
    for chunk in _strings(body):
        if "skills are available" in chunk or "available skills" in chunk.lower():
            names.update(_CLAUDE_SKILLS.findall(chunk.split("skills are available", 1)[-1]))
        names.update(_SKILL_FILE.findall(chunk))
    return sorted(names)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def _anthropic_last(body: dict[str, Any]) -> tuple[str, str | None]:
    # Claude Code puts a "system" message after the user's; the user's text is the last plain text block of
    # the last user message (earlier blocks are <system-reminder>s).
    users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
    if not users:
        return "", None
    content = users[-1].get("content")
    if isinstance(content, str):
        return _strip_reminders(content), None
    texts, tool_output = [], None
    for block in content or []:
        if block.get("type") == "tool_result":
            inner = block.get("content")
            tool_output = inner if isinstance(inner, str) else " ".join(_strings(inner))
        elif block.get("type") == "text":
            texts.append(_strip_reminders(block.get("text", "")))
    texts = [t for t in texts if t]
    return (texts[-1] if texts else ""), tool_output


def _strip_reminders(text: str) -> str:
    return re.sub(r"<system-reminder>.*?</system-reminder>", "", text, flags=re.DOTALL).strip()


def _openai_last(body: dict[str, Any]) -> tuple[str, str | None]:
    items = body.get("input") or []
    if isinstance(items, str):
        return items, None
    for item in reversed(items):
        kind = item.get("type")
        if kind in ("function_call_output", "custom_tool_call_output", "local_shell_call_output"):
            output = item.get("output")
            return "", output if isinstance(output, str) else " ".join(_strings(output))
        if item.get("role") == "user":
            texts = [c.get("text", "") for c in item.get("content") or [] if isinstance(c, dict)]
            real = [t for t in texts if not t.lstrip().startswith("<")]
            return (real[-1] if real else (texts[-1] if texts else "")), None
    return "", None


def _gemini_last(body: dict[str, Any]) -> tuple[str, str | None]:
    contents = body.get("contents") or []
    if not contents:
        return "", None
    parts = contents[-1].get("parts") or []
    for part in parts:
        if "functionResponse" in part:
            return "", " ".join(_strings(part["functionResponse"].get("response")))
    texts = [p.get("text", "") for p in parts if "text" in p]
    return (texts[-1] if texts else ""), None


async def _sse(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await resp.prepare(request)
    return resp


async def _event(resp: web.StreamResponse, name: str, data: dict[str, Any]) -> None:
    await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())


async def _data(resp: web.StreamResponse, data: dict[str, Any]) -> None:
    await resp.write(f"data: {json.dumps(data)}\n\n".encode())
