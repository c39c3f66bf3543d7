"""A stand-in for ``kiro-cli acp``: a small ACP agent on the same SDK, run as a real subprocess.

It follows kiro-cli's documented behaviour (``reference/kiro-cli.md``), not KiroClaw's implementation:

* argv ``acp --agent NAME --agent-engine v1|v2|v3`` (v3 rejects ``--agent``); ``--version`` prints a version.
* Agent lookup: ``<cwd>/.kiro/agents/NAME.json`` wins over ``$KIRO_HOME/agents/NAME.json``; an unknown agent
  falls back to ``kiro_default`` and sends ``_kiro.dev/agent/not_found``.
* Skills are read once at start-up. ``kiro_default`` loads ``$KIRO_HOME/skills/*/SKILL.md`` and
  ``<cwd>/.kiro/skills/*/SKILL.md`` (workspace wins on a name clash). A custom agent loads its JSON's
  ``skill://`` resources (absolute, ``~``, relative-to-cwd paths and globs) and also inherits the default
  locations unless ``chat.disableInheritingDefaultResources`` is true in ``$KIRO_HOME/settings/cli.json``
  or ``<cwd>/.kiro/settings/cli.json`` (kiro-cli ≥ 2.10). A skill counts only when its folder name equals
  its frontmatter ``name`` and it has a ``description``. The same SKILL.md found twice counts once; two
  different files with one name are both kept (kiro-cli documents no rule for that, so a duplicate shows).
* Sessions persist under ``$KIRO_HOME/sessions/cli/<id>.json`` / ``.jsonl``; ``<id>.lock`` holds the PID of
  the process that has the session open. Loading a session locked by another live PID fails with
  "Session is active in another process (PID N)" in the error data. ``session/load`` without
  ``mcpServers`` gets no response (as kiro-cli).

Prompts: ``list skills`` → names found, one per line, sorted ·
``list skill paths`` → ``name folder`` lines · ``echo WORDS`` → streamed word chunks ·
``slow WORDS`` → one word every 0.2 s (cancellable) ·
``stubborn WORDS`` → the same, ignoring cancel · ``permission`` → asks for a permission ·
``write file NAME [TEXT]`` → writes ``outbox/NAME`` in its cwd · ``history`` → the earlier prompts of the
session · ``model`` → the current model · ``pid`` → its PID · ``crash`` → exits mid-turn · else ``I got: …``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

VERSION = "2.12.2"
MODELS = [
    {"modelId": "auto", "name": "Auto"},
    {"modelId": "claude-sonnet-4", "name": "Claude Sonnet 4"},
    {"modelId": "claude-haiku-4.5", "name": "Claude Haiku 4.5"},
]


def _frontmatter(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return {}
    out: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return out
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "\t")):
            out[key.strip()] = value.strip().strip("'\"")
    return {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _setting(settings: Any, key: str) -> Any:
    if not isinstance(settings, dict):
        return None
    if key in settings:
        return settings[key]
    node: Any = settings
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


class Discovery:
    """What the stand-in found at start-up: the agent config and its skills."""

    def __init__(self, kiro_home: Path, cwd: Path, agent: str | None) -> None:
        self.kiro_home, self.cwd = kiro_home, cwd
        self.agent_name = "kiro_default"
        self.agent_not_found: str | None = None
        config: Any = None
        if agent and agent not in ("kiro_default", "kiro_planner", "kiro_guide"):
            for candidate in (cwd / ".kiro" / "agents" / f"{agent}.json", kiro_home / "agents" / f"{agent}.json"):
                if candidate.is_file():
                    config = _read_json(candidate)
                    self.agent_name = agent
                    break
            else:
                self.agent_not_found = agent
        self.config = config if isinstance(config, dict) else {}
        disable = None
        for settings_file in (kiro_home / "settings" / "cli.json", cwd / ".kiro" / "settings" / "cli.json"):
            value = _setting(_read_json(settings_file), "chat.disableInheritingDefaultResources")
            if value is not None:
                disable = bool(value)
        custom = self.agent_name != "kiro_default"
        inherit = (not custom) or not disable
        found: list[tuple[str, Path]] = []
        if inherit:
            workspace = self._scan(cwd / ".kiro" / "skills")
            global_ = self._scan(kiro_home / "skills")
            names = {n for n, _ in workspace}
            found += workspace + [(n, p) for n, p in global_ if n not in names]
        if custom:
            for resource in self.config.get("resources", []) or []:
                if isinstance(resource, str) and resource.startswith("skill://"):
                    found += self._resource(resource[len("skill://") :])
        seen: set[Path] = set()
        self.skills: list[tuple[str, Path]] = []
        for name, path in found:
            real = path.resolve()
            if real in seen:
                continue
            seen.add(real)
            self.skills.append((name, path))
        self.model = str(self.config.get("model") or "auto")

    @staticmethod
    def _valid(skill_md: Path) -> str | None:
        meta = _frontmatter(skill_md)
        name = meta.get("name", "")
        if not name or name != skill_md.parent.name or not meta.get("description"):
            return None
        return name

    def _scan(self, folder: Path) -> list[tuple[str, Path]]:
        out = []
        for skill_md in sorted(folder.glob("*/SKILL.md")):
            name = self._valid(skill_md)
            if name:
                out.append((name, skill_md))
        return out

    def _resource(self, spec: str) -> list[tuple[str, Path]]:
        if spec.startswith("~"):
            spec = os.path.expanduser(spec)
        if not os.path.isabs(spec):
            spec = str(self.cwd / spec)
        out = []
        for match in sorted(glob.glob(spec, recursive=True)):
            path = Path(match)
            if path.is_dir():
                path = path / "SKILL.md"
            if path.name == "SKILL.md" and path.is_file():
                name = self._valid(path)
                if name:
                    out.append((name, path))
        return out


class StandinAgent:
    def __init__(self, discovery: Discovery, kiro_home: Path) -> None:
        self.discovery = discovery
        self.sessions_dir = kiro_home / "sessions" / "cli"
        self.conn: Any = None
        self.models: dict[str, str] = {}
        self.cancelled: set[str] = set()
        self.locks: set[Path] = set()

    def on_connect(self, conn: Any) -> None:
        self.conn = conn

    # --- ACP methods ----------------------------------------------------------------------------

    async def initialize(
        self, protocol_version: int, client_capabilities: Any = None, client_info: Any = None, **kwargs: Any
    ) -> Any:
        from acp.schema import AgentCapabilities, Implementation, InitializeResponse, PromptCapabilities

        return InitializeResponse(
            protocol_version=1,
            agent_capabilities=AgentCapabilities(load_session=True, prompt_capabilities=PromptCapabilities(image=True)),
            agent_info=Implementation(name="kiro-cli", version=VERSION),
            auth_methods=[],
        )

    async def new_session(self, cwd: str, mcp_servers: Any = None, **kwargs: Any) -> Any:
        session_id = str(uuid.uuid4())
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        model = self.discovery.model
        self._save_meta(session_id, cwd, model)
        (self.sessions_dir / f"{session_id}.jsonl").touch()
        self._lock(session_id)
        self.models[session_id] = model
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._announce(session_id)))
        return _Raw(
            {
                "sessionId": session_id,
                "modes": {"currentModeId": self.discovery.agent_name, "availableModes": []},
                "models": {"currentModelId": model, "availableModels": MODELS},
            }
        )

    async def load_session(self, cwd: str, session_id: str, mcp_servers: Any = None, **kwargs: Any) -> Any:
        from acp import RequestError, text_block, update_agent_message, update_user_message

        if mcp_servers is None:
            await asyncio.Event().wait()  # kiro-cli: a parse error on stderr and no response at all
        meta = _read_json(self.sessions_dir / f"{session_id}.json")
        if not isinstance(meta, dict):
            raise RequestError(-32603, "Internal error", {"message": f"session {session_id} not found"})
        lock = self.sessions_dir / f"{session_id}.lock"
        try:
            holder = int(lock.read_text().strip())
        except (OSError, ValueError):
            holder = None
        if holder is not None and holder != os.getpid() and _alive(holder):
            raise RequestError(-32603, "Internal error", f"Session is active in another process (PID {holder})")
        self._lock(session_id)
        self.models[session_id] = str(meta.get("model") or "auto")
        for event in self._events(session_id):
            update = (
                update_user_message(text_block(event["text"]))
                if event["role"] == "user"
                else update_agent_message(text_block(event["text"]))
            )
            await self.conn.session_update(session_id=session_id, update=update)
        asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._announce(session_id)))
        return _Raw(
            {
                "modes": {"currentModeId": self.discovery.agent_name, "availableModes": []},
                "models": {"currentModelId": self.models[session_id], "availableModels": MODELS},
            }
        )

    async def set_model(self, session_id: str, model_id: str) -> dict[str, Any]:
        from acp import RequestError

        if model_id not in {m["modelId"] for m in MODELS}:
            raise RequestError.invalid_params({"message": f"unknown model {model_id}"})
        self.models[session_id] = model_id
        meta = _read_json(self.sessions_dir / f"{session_id}.json") or {}
        self._save_meta(session_id, str(meta.get("cwd", "")), model_id)
        return {}

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        self.cancelled.add(session_id)

    async def prompt(self, prompt: list[Any], session_id: str, **kwargs: Any) -> Any:
        from acp import PromptResponse, RequestError

        if session_id not in self.models:
            raise RequestError(-32603, "Internal error", {"message": "session not loaded"})
        text = " ".join(getattr(block, "text", "") for block in prompt).strip()
        self.cancelled.discard(session_id)
        previous = [e["text"] for e in self._events(session_id) if e["role"] == "user"]
        self._append(session_id, "user", text)
        await self._say(session_id, "thinking…", thought=True)
        reply, stop = await self._answer(session_id, text, previous)
        self._append(session_id, "agent", reply)
        await self.conn.ext_notification(
            "kiro.dev/metadata", {"sessionId": session_id, "contextUsagePercentage": 1.5, "turnDurationMs": 3}
        )
        return PromptResponse(stop_reason=stop)

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        from acp import RequestError

        raise RequestError.method_not_found(f"_{method}")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    # --- behaviour ------------------------------------------------------------------------------

    async def _answer(self, session_id: str, text: str, previous: list[str]) -> tuple[str, str]:
        from acp import start_tool_call, update_tool_call
        from acp.schema import PermissionOption, ToolCallUpdate

        lower = text.lower()
        if lower == "list skills":
            names = sorted(name for name, _ in self.discovery.skills)
            reply = "\n".join(names) if names else "(no skills)"
            for line in reply.splitlines(keepends=True):
                await self._say(session_id, line)
            return reply, "end_turn"
        if lower == "list skill paths":
            reply = "\n".join(sorted(f"{name} {path.parent}" for name, path in self.discovery.skills))
            await self._say(session_id, reply or "(no skills)")
            return reply, "end_turn"
        if lower.startswith("echo "):
            return await self._stream(session_id, text[5:], delay_s=0.0)
        if lower.startswith("slow "):
            return await self._stream(session_id, text[5:], delay_s=0.2)
        if lower.startswith("stubborn "):  # ignores session/cancel
            for word in text[9:].split():
                await self._say(session_id, word + " ")
                await asyncio.sleep(0.2)
            return text[9:], "end_turn"
        if lower == "permission":
            call_id = f"call-{uuid.uuid4().hex[:8]}"
            await self.conn.session_update(
                session_id=session_id,
                update=start_tool_call(call_id, "Run shell command", kind="execute", status="pending"),
            )
            answer = await self.conn.request_permission(
                session_id=session_id,
                tool_call=ToolCallUpdate(tool_call_id=call_id, title="Run shell command"),
                options=[
                    PermissionOption(option_id="allow", name="Yes", kind="allow_once"),
                    PermissionOption(option_id="trust", name="Always", kind="allow_always"),
                    PermissionOption(option_id="deny", name="No", kind="reject_once"),
                ],
            )
            outcome = answer.outcome
            granted = getattr(outcome, "outcome", "") == "selected" and getattr(outcome, "option_id", "") in (
                "allow",
                "trust",
            )
            await self.conn.session_update(
                session_id=session_id,
                update=update_tool_call(
                    call_id, status="completed" if granted else "failed", title="Run shell command"
                ),
            )
            reply = "permission granted" if granted else "permission denied"
            await self._say(session_id, reply)
            return reply, "end_turn"
        if lower.startswith("write file "):
            parts = text[len("write file ") :].split(" ", 1)
            name = os.path.basename(parts[0])
            body = parts[1] if len(parts) > 1 else f"content of {name}\n"
            call_id = f"call-{uuid.uuid4().hex[:8]}"
            await self.conn.session_update(
                session_id=session_id,
                update=start_tool_call(call_id, f"Writing outbox/{name}", kind="edit", status="in_progress"),
            )
            outbox = Path.cwd() / "outbox"
            outbox.mkdir(exist_ok=True)
            (outbox / name).write_text(body, encoding="utf-8")
            await self.conn.session_update(session_id=session_id, update=update_tool_call(call_id, status="completed"))
            reply = f"wrote outbox/{name}"
            await self._say(session_id, reply)
            return reply, "end_turn"
        if lower == "history":
            reply = "\n".join(previous) if previous else "(no history)"
            await self._say(session_id, reply)
            return reply, "end_turn"
        if lower == "model":
            reply = self.models.get(session_id, "auto")
            await self._say(session_id, reply)
            return reply, "end_turn"
        if lower == "pid":
            reply = str(os.getpid())
            await self._say(session_id, reply)
            return reply, "end_turn"
        if lower == "crash":
            await self._say(session_id, "about to crash")
            await asyncio.sleep(0.05)
            os._exit(3)
        reply = f"I got: {text}"
        await self._say(session_id, reply)
        return reply, "end_turn"

    async def _stream(self, session_id: str, words: str, *, delay_s: float) -> tuple[str, str]:
        sent: list[str] = []
        pieces = words.split()
        for index, word in enumerate(pieces):
            if session_id in self.cancelled:
                return "".join(sent), "cancelled"
            chunk = word + (" " if index < len(pieces) - 1 else "")
            await self._say(session_id, chunk)
            sent.append(chunk)
            if delay_s:
                await asyncio.sleep(delay_s)
        if session_id in self.cancelled:
            return "".join(sent), "cancelled"
        return "".join(sent), "end_turn"

    async def _say(self, session_id: str, text: str, *, thought: bool = False) -> None:
        from acp import text_block, update_agent_message, update_agent_thought

        update = update_agent_thought(text_block(text)) if thought else update_agent_message(text_block(text))
        await self.conn.session_update(session_id=session_id, update=update)

    async def _announce(self, session_id: str) -> None:
        if self.discovery.agent_not_found:
            await self.conn.ext_notification("kiro.dev/agent/not_found", {"agent": self.discovery.agent_not_found})
        prompts = [
            {"name": name, "serverName": f"skill:{name}", "meta": {"hint": ""}} for name, _ in self.discovery.skills
        ]
        await self.conn.ext_notification(
            "kiro.dev/commands/available", {"sessionId": session_id, "commands": [], "prompts": prompts}
        )

    # --- storage ----------------------------------------------------------------------------------

    def _save_meta(self, session_id: str, cwd: str, model: str) -> None:
        self.sessions_dir.mkdir(parents=True, exist_ok=True)
        (self.sessions_dir / f"{session_id}.json").write_text(
            json.dumps({"id": session_id, "cwd": cwd, "model": model, "updated": time.time()})
        )

    def _lock(self, session_id: str) -> None:
        lock = self.sessions_dir / f"{session_id}.lock"
        lock.write_text(str(os.getpid()))
        self.locks.add(lock)

    def _append(self, session_id: str, role: str, text: str) -> None:
        with (self.sessions_dir / f"{session_id}.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"role": role, "text": text}) + "\n")

    def _events(self, session_id: str) -> list[dict[str, str]]:
        path = self.sessions_dir / f"{session_id}.jsonl"
        try:
            return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError:
            return []

    def release_locks(self) -> None:
        for lock in self.locks:
            with contextlib.suppress(OSError, ValueError):
                if int(lock.read_text().strip()) == os.getpid():
                    lock.unlink()


class _Raw(dict):  # type: ignore[type-arg]
    """A response passed to the wire as-is (kiro-cli's extra fields, e.g. ``models``, survive)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


async def _serve(agent: StandinAgent) -> None:
    from acp.core import AgentSideConnection
    from acp.stdio import stdio_streams

    output_stream, input_stream = await stdio_streams(limit=50 * 1024 * 1024)
    conn = AgentSideConnection(agent, input_stream, output_stream, listening=False)
    router = conn._conn._handler

    async def handler(method: str, params: Any, is_notification: bool) -> Any:
        if method == "session/set_model" and not is_notification:  # kiro-cli's own method
            params = params or {}
            return await agent.set_model(str(params.get("sessionId")), str(params.get("modelId")))
        return await router(method, params, is_notification)

    conn._conn._handler = handler
    try:
        await conn.listen()
    finally:
        agent.release_locks()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kiro-cli")
    parser.add_argument("--version", action="store_true")
    parser.add_argument("command", nargs="?")
    parser.add_argument("--agent")
    parser.add_argument("--agent-engine", choices=["v1", "v2", "v3"], default="v2")
    parser.add_argument("--model")
    parser.add_argument("-a", "--trust-all-tools", action="store_true")
    args = parser.parse_args(argv)
    if args.version:
        print(f"kiro-cli {VERSION}")
        return 0
    if args.command != "acp":
        print(f"error: unsupported command {args.command!r} (stand-in supports: acp)", file=sys.stderr)
        return 2
    if args.agent_engine == "v3" and args.agent:
        print("error: --agent is not supported with --agent-engine v3", file=sys.stderr)
        return 2
    kiro_home = Path(os.environ.get("KIRO_HOME") or Path.home() / ".kiro")
    discovery = Discovery(kiro_home, Path.cwd(), args.agent)
    print(f"stand-in kiro-cli {VERSION}: agent {discovery.agent_name}, {len(discovery.skills)} skills", file=sys.stderr)
    agent = StandinAgent(discovery, kiro_home)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(agent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
