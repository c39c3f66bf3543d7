"""Parse and validate skills (``SKILL.md``) and recipes (``*.md`` prompt templates).

Skill rules come from the Agent Skills specification (agentskills.io/specification, limits taken from the
``skills-ref`` reference library) and kiro-cli's docs: ``name`` is 1–64 ASCII lowercase letters, digits
and hyphens, no leading/trailing/double hyphen, equal to its folder name; ``description`` 1–1024
characters; optional ``license``, ``compatibility`` (≤ 500), ``metadata`` (str → str), ``allowed-tools``.

Problems that block an install raise :class:`~kiroclaw.errors.ValidationError`; problems that do not
(unknown fields, a long body) are returned as warnings.

Recipes follow Kodelet's format: frontmatter ``name`` (a display title), ``description``, optional
``arguments`` mapping each argument name to ``{description, default}``; a recipe's id is its path
relative to the recipes folder without ``.md`` (``ralph/init``).
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import RecipeError, ValidationError

SKILL_FILE = "SKILL.md"
#: Agent Skills limits (skills-ref ``validator.py``: MAX_SKILL_NAME_LENGTH etc.).
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 1024
MAX_COMPATIBILITY_LENGTH = 500
#: Largest SKILL.md or recipe file we parse, in bytes.
MAX_MANIFEST_BYTES = 1024 * 1024
#: The spec recommends keeping SKILL.md under 500 lines (progressive disclosure); longer is a warning.
LONG_BODY_LINES = 500
#: Frontmatter fields the Agent Skills spec defines (skills-ref ``ALLOWED_FIELDS``).
KNOWN_FIELDS = frozenset({"name", "description", "license", "allowed-tools", "metadata", "compatibility"})

#: Frontmatter bounds: YAML larger, deeper or slower than this is refused (alias bombs, deep nesting).
MAX_FRONTMATTER_BYTES = 64 * 1024
MAX_FRONTMATTER_DEPTH = 16
FRONTMATTER_SECONDS = 2.0

_NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_RECIPE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")


@dataclass(frozen=True)
class SkillManifest:
    """A parsed, valid skill.

    :ivar name: the frontmatter ``name`` (== folder name).
    :ivar path: the skill folder.
    :ivar metadata: frontmatter ``metadata`` (str → str); ``metadata["version"]`` is the skill's version.
    :ivar warnings: non-blocking problems, one line each.
    """

    name: str
    description: str
    path: Path
    license: str | None = None
    compatibility: str | None = None
    allowed_tools: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def version(self) -> str | None:
        return self.metadata.get("version")


@dataclass(frozen=True)
class RecipeArgument:
    """One recipe argument: shown by ``/recipe`` and filled with ``key=value``."""

    name: str
    description: str = ""
    default: str | None = None


@dataclass(frozen=True)
class RecipeManifest:
    """A parsed recipe.

    :ivar id: path relative to its recipes folder, without ``.md``, ``/``-separated (``ralph/init``).
    :ivar title: the frontmatter ``name`` (a display title), or the id.
    :ivar arguments: declared arguments keyed by name, in declaration order.
    :ivar body: the template text after the frontmatter.
    :ivar body_line: the file's line number of the body's first line (errors name the file's lines).
    """

    id: str
    title: str
    description: str
    path: Path
    arguments: dict[str, RecipeArgument] = field(default_factory=dict)
    body: str = ""
    warnings: tuple[str, ...] = ()
    body_line: int = 1


def skill_name_problems(name: object) -> list[str]:
    """Why ``name`` is not a valid Agent Skills name (empty list: valid). Does not check the folder."""
    if not isinstance(name, str) or not name:
        return ["'name' must be a non-empty string"]
    if len(name) > MAX_NAME_LENGTH:
        return [f"name {name[:80]!r} is longer than {MAX_NAME_LENGTH} characters"]
    if not _NAME.match(name):
        return [
            f"name {name!r} must be lowercase letters, digits and single hyphens, not starting or ending with a hyphen"
        ]
    return []


def is_safe_skill_name(name: object) -> bool:
    """True when ``name`` is valid and therefore safe as a folder name (no ``/``, ``..``, NUL…)."""
    return not skill_name_problems(name)


def _bounded_loader() -> type:
    import yaml

    class BoundedLoader(yaml.SafeLoader):
        """PyYAML's pure-Python safe loader (libyaml crashes on deep nesting) that refuses anchors and
        aliases (the "billion laughs" bomb: a 411-byte SKILL.md expanding to gigabytes), nesting deeper
        than :data:`MAX_FRONTMATTER_DEPTH` and parsing longer than :data:`FRONTMATTER_SECONDS`."""

        def __init__(self, stream: str) -> None:
            super().__init__(stream)
            self._depth = 0
            self._deadline = time.monotonic() + FRONTMATTER_SECONDS

        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                raise FrontmatterLimitError("anchors and aliases (&, *) are not allowed", event.start_mark)
            if time.monotonic() > self._deadline:
                raise FrontmatterLimitError(f"took longer than {FRONTMATTER_SECONDS:g} s to read", event.start_mark)
            self._depth += 1
            try:
                if self._depth > MAX_FRONTMATTER_DEPTH:
                    raise FrontmatterLimitError(
                        f"is nested deeper than {MAX_FRONTMATTER_DEPTH} levels", event.start_mark
                    )
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

    return BoundedLoader


class FrontmatterLimitError(Exception):
    """Frontmatter YAML refused by a bound (anchors/aliases, depth, size, time); ``problem`` says which."""

    def __init__(self, problem: str, mark: Any = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


_LOADER: type | None = None


def parse_frontmatter_yaml(raw: str) -> Any:
    """Parse frontmatter YAML within bounds: at most :data:`MAX_FRONTMATTER_BYTES` (UTF-8), no anchors or
    aliases, at most :data:`MAX_FRONTMATTER_DEPTH` levels, at most :data:`FRONTMATTER_SECONDS` of parsing.

    Blocking (pure Python): callers on the event loop run it in a thread (``asyncio.to_thread``).

    :raises FrontmatterLimitError: a bound was exceeded.
    :raises yaml.YAMLError: the YAML is malformed.
    """
    import yaml

    global _LOADER
    if len(raw) > MAX_FRONTMATTER_BYTES or len(raw.encode("utf-8", errors="replace")) > MAX_FRONTMATTER_BYTES:
        raise FrontmatterLimitError(f"is larger than {MAX_FRONTMATTER_BYTES // 1024} KiB")
    if _LOADER is None:
        _LOADER = _bounded_loader()
    try:
        return yaml.load(raw, Loader=_LOADER)
    except RecursionError:
        raise FrontmatterLimitError("is nested too deeply") from None


def split_frontmatter(text: str, *, what: str = SKILL_FILE) -> tuple[dict[str, Any], str]:
    """Split ``---``-delimited YAML frontmatter from a Markdown document.

    :returns: (frontmatter mapping, body text).
    :raises ValidationError: no frontmatter, unterminated, invalid YAML, or not a mapping.
    """
    import yaml

    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ValidationError(f"{what} must start with YAML frontmatter between '---' lines")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            raw = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise ValidationError(f"{what} frontmatter is not closed with '---'")
    try:
        data = parse_frontmatter_yaml(raw) if raw.strip() else {}
    except FrontmatterLimitError as exc:
        raise ValidationError(f"{what} frontmatter {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark is not None else ""
        raise ValidationError(f"{what} frontmatter is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{what} frontmatter must be a YAML mapping (key: value lines)")
    return data, body


def read_manifest_text(path: Path, *, what: str) -> str:
    """Read a SKILL.md/recipe as UTF-8, refusing files over :data:`MAX_MANIFEST_BYTES`.

    :raises ValidationError: missing, unreadable, too big, or not UTF-8.
    """
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ValidationError(f"no {what} found") from None
    except OSError as exc:
        raise ValidationError(f"{what} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ValidationError(f"{what} is larger than {MAX_MANIFEST_BYTES // 1024} KiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{what} is not UTF-8 text") from None


def load_skill(skill_dir: Path, *, label: str | None = None, check_folder: bool = True) -> SkillManifest:
    """Parse and validate the skill in ``skill_dir``.

    :param label: how to name the skill in messages (defaults to the folder name).
    :param check_folder: require ``name`` to equal the folder name (kiro-cli and the spec require it;
        off only for a staged single skill whose folder the core will name after ``name``).
    :raises ValidationError: every blocking problem in ``problems``; the message names the first.
    """
    where = label or skill_dir.name
    skill_md = skill_dir / SKILL_FILE
    if skill_md.is_symlink() or (skill_md.exists() and not skill_md.is_file()):
        raise ValidationError(f"{where}: {SKILL_FILE} is not a regular file")
    text = read_manifest_text(skill_md, what=f"{where}/{SKILL_FILE}" if label else SKILL_FILE)
    data, body = split_frontmatter(text, what=f"{where}/{SKILL_FILE}")
    problems: list[str] = []
    warnings: list[str] = []

    name = data.get("name")
    if name is None:
        problems.append("missing required field 'name'")
    else:
        problems.extend(skill_name_problems(name))
        if not problems and check_folder and unicodedata.normalize("NFC", skill_dir.name) != name:
            problems.append(f"name {name!r} does not match its folder {skill_dir.name!r}")

    description = data.get("description")
    if description is None:
        problems.append("missing required field 'description'")
    elif not isinstance(description, str) or not description.strip():
        problems.append("'description' must be a non-empty string")
    elif len(description) > MAX_DESCRIPTION_LENGTH:
        problems.append(f"description is longer than {MAX_DESCRIPTION_LENGTH} characters")

    compatibility = data.get("compatibility")
    if compatibility is not None and not isinstance(compatibility, str):
        problems.append("'compatibility' must be a string")
    elif isinstance(compatibility, str) and len(compatibility) > MAX_COMPATIBILITY_LENGTH:
        problems.append(f"compatibility is longer than {MAX_COMPATIBILITY_LENGTH} characters")

    license_ = data.get("license")
    if license_ is not None and not isinstance(license_, str):
        warnings.append("'license' should be a string; ignored")
        license_ = None

    allowed_tools = data.get("allowed-tools")
    if isinstance(allowed_tools, list):
        allowed_tools = " ".join(str(t) for t in allowed_tools)
    elif allowed_tools is not None and not isinstance(allowed_tools, str):
        warnings.append("'allowed-tools' should be a string; ignored")
        allowed_tools = None

    raw_metadata = data.get("metadata")
    metadata: dict[str, str] = {}
    if isinstance(raw_metadata, dict):
        # the spec's metadata is a map of strings: scalars are kept as text, nested values are dropped
        metadata = {str(k): str(v) for k, v in raw_metadata.items() if isinstance(v, str | int | float | bool)}
        dropped = sorted(str(k) for k, v in raw_metadata.items() if str(k) not in metadata)
        if dropped:
            warnings.append(f"'metadata' values must be strings; ignored {', '.join(dropped)[:200]}")
    elif raw_metadata is not None:
        warnings.append("'metadata' should be a mapping; ignored")

    unknown = sorted(str(key) for key in data if key not in KNOWN_FIELDS)
    if unknown:
        warnings.append(f"unknown frontmatter field(s) {', '.join(unknown)} (not in the Agent Skills spec)")
    body_lines = body.count("\n") + 1
    if body_lines > LONG_BODY_LINES:
        warnings.append(
            f"SKILL.md body has {body_lines} lines; the spec recommends under {LONG_BODY_LINES} "
            "(move detail into references/)"
        )

    if problems:
        raise ValidationError(f"{where}: {problems[0]}", problems=[f"{where}: {p}" for p in problems])
    assert isinstance(name, str) and isinstance(description, str)
    return SkillManifest(
        name=name,
        description=description.strip(),
        path=skill_dir,
        license=license_,
        compatibility=compatibility,
        allowed_tools=allowed_tools,
        metadata=metadata,
        warnings=tuple(f"{where}: {w}" for w in warnings),
    )


def read_skill_summary(skill_dir: Path) -> tuple[str | None, str]:
    """Cheap read of an installed skill for listings: (``name`` or ``None`` if unreadable, description)."""
    try:
        text = read_manifest_text(skill_dir / SKILL_FILE, what=SKILL_FILE)
        data, _ = split_frontmatter(text)
    except ValidationError:
        return None, ""
    name = data.get("name")
    description = data.get("description")
    return (name if isinstance(name, str) else None), (description.strip() if isinstance(description, str) else "")


def recipe_id(path: Path, recipes_root: Path) -> str:
    """The id of a recipe file: its path under ``recipes_root`` without ``.md``, ``/``-separated.

    :raises ValidationError: a path segment is not a safe name (hidden, spaces, control characters…).
    """
    relative = path.relative_to(recipes_root).with_suffix("")
    parts = relative.parts
    for part in parts:
        if not _RECIPE_SEGMENT.match(part):
            raise ValidationError(f"recipe path {'/'.join(parts)!r}: {part!r} is not a safe name")
    return "/".join(parts)


_PLAIN_LINE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]{0,63}):[ \t]*(.*?)[ \t]*$")


def _plain_frontmatter(text: str) -> tuple[dict[str, Any], str] | None:
    """Frontmatter read as one ``key: value`` string per line, for the recipes YAML rejects.

    Claude Code's commands write ``argument-hint: [issue] [priority]``, which is not YAML (a flow list
    followed by more text) but is accepted by Claude Code as text. :returns: ``None`` unless every
    frontmatter line is blank or ``key: value`` at the top level and the block is closed with ``---``.
    """
    lines = text.removeprefix("\ufeff").splitlines(keepends=True)
    data: dict[str, Any] = {}
    for index in range(1, len(lines)):
        line = lines[index].strip("\r\n")
        if line.strip() == "---":
            return data, "".join(lines[index + 1 :])
        if not line.strip():
            continue
        match = _PLAIN_LINE.match(line)
        if match is None:
            return None
        data[match.group(1)] = match.group(2)
    return None


def load_recipe(path: Path, recipes_root: Path) -> RecipeManifest:
    """Parse a recipe file (Kodelet's format; see module docstring).

    A recipe without frontmatter is allowed (title = id, no arguments), as in Kodelet.

    :raises ValidationError: unreadable, bad YAML, or a malformed ``arguments`` map.
    """
    rid = recipe_id(path, recipes_root)
    text = read_manifest_text(path, what=f"recipe {rid}")
    warnings: list[str] = []
    if text.lstrip("\ufeff").startswith("---"):
        try:
            data, body = split_frontmatter(text, what=f"recipe {rid}")
        except ValidationError:
            loose = _plain_frontmatter(text)
            if loose is None:
                raise
            data, body = loose
            warnings.append(f"recipe {rid}: frontmatter is not valid YAML; read as plain 'key: value' lines")
    else:
        data, body = {}, text
    title = data.get("name")
    description = data.get("description")
    arguments: dict[str, RecipeArgument] = {}
    raw_args = data.get("arguments")
    if raw_args is not None:
        if not isinstance(raw_args, dict):
            raise ValidationError(f"recipe {rid}: 'arguments' must be a mapping of name → {{description, default}}")
        for arg_name, spec in raw_args.items():
            if not isinstance(arg_name, str) or not _ARG_NAME.match(arg_name):
                raise ValidationError(f"recipe {rid}: argument name {arg_name!r} is not a valid identifier")
            if spec is None:
                spec = {}
            if not isinstance(spec, dict):
                raise ValidationError(f"recipe {rid}: argument {arg_name!r} must be a mapping")
            default = spec.get("default")
            arguments[arg_name] = RecipeArgument(
                name=arg_name,
                description=str(spec.get("description") or ""),
                default=None if default is None else str(default),
            )
    manifest = RecipeManifest(
        id=rid,
        title=str(title) if isinstance(title, str | int | float) and str(title).strip() else rid,
        description=str(description).strip() if isinstance(description, str) else "",
        path=path,
        arguments=arguments,
        body=body,
        warnings=tuple(warnings),
        body_line=text.count("\n", 0, len(text) - len(body)) + 1,
    )
    from .recipes import check_recipe  # recipes imports this module

    try:
        check_recipe(manifest)
    except RecipeError as exc:
        raise ValidationError(exc.user_message) from None
    return manifest
