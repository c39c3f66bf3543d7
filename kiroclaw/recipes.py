"""Render recipes (user-invoked prompt templates) into the prompt text sent to the agent.

Recipes accept the placeholder forms their authors use:

* Kodelet's Go ``text/template`` subset: ``{{.name}}`` (also ``{{ .name }}``), ``{{/* a comment */}}``
  (dropped) and Go's trim markers (``{{- .name -}}`` removes the white space before/after the action);
* the bare form of Jinja and Mustache templates: ``{{ name }}``;
* Claude Code commands' ``$ARGUMENTS`` (everything given after the recipe's name) and ``$1``, ``$2``…
  (the first, second… value given without a name).

Values given without a name fill a recipe's named arguments in declaration order when its body has no
``$1``: ``/recipe review/pr develop`` sets ``base=develop``.

Anything else between ``{{`` and ``}}`` (Kodelet's ``{{bash "git" "status"}}``, ``{{include …}}``,
``{{default .x "y"}}``, ``{{if}}``, Jinja filters ``{{ x | upper }}``…) is a
:class:`~kiroclaw.errors.RecipeError` naming the action and its line in the recipe file: a recipe from
the internet must never run commands on the bot's host, and an unsupported action is never passed on raw
to the agent either. :func:`check_recipe` runs at install time (``kiroclaw.skills.load_recipe``), so a
broken template is reported when it is installed, not when a user first runs it.

Why a small strict scanner rather than Jinja2's ``SandboxedEnvironment``: three of the four forms are not
Jinja (Go's leading dot, ``$ARGUMENTS``, ``$1``), so Jinja would need a translation step and would then
accept its whole expression language (filters, attribute access, loops, ``{% %}`` blocks, ``{# #}``
comments) in text that is *not* meant as Jinja; a recipe that legitimately shows ``{% raw %}`` or
``{# … #}`` to the agent would break. A scanner that can only substitute names cannot evaluate anything,
so there is nothing to sandbox.

Argument values are inserted verbatim in one pass: a value holding ``{{…}}`` or ``$1`` is never re-parsed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .errors import RecipeError

if TYPE_CHECKING:  # kiroclaw.skills imports this module to check templates when a recipe is loaded
    from .skills import RecipeManifest

#: Largest rendered prompt, in characters (a recipe body is ≤ 1 MiB; values come from one chat message).
MAX_RENDERED_CHARS = 2 * 1024 * 1024
#: Argument names: the same rule as recipe frontmatter (``kiroclaw.skills._ARG_NAME``).
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
_PLACEHOLDER = re.compile(r"^\.?([A-Za-z_][A-Za-z0-9_-]{0,63})\Z")
#: Typographic quotes phones substitute for ASCII ones in chat (iOS "smart punctuation").
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Var:
    name: str
    line: int


@dataclass(frozen=True)
class _Pos:
    """``$1``, ``$2``…: the n-th value given without a name (1-based)."""

    index: int
    line: int


@dataclass(frozen=True)
class _All:
    """``$ARGUMENTS``: everything given after the recipe's name."""

    line: int


_Token = _Text | _Var | _Pos | _All
#: Go template and Jinja keywords: ``{{ end }}`` is an action, never an argument called "end".
_KEYWORDS = frozenset(
    {
        *("if", "else", "end", "range", "with", "define", "template", "block", "break", "continue", "nil"),
        *("true", "false", "for", "endfor", "endif", "set", "include", "import", "macro", "call", "filter"),
        *("raw", "endraw"),
    }
)
#: Claude Code's argument placeholders inside literal text.
_DOLLAR = re.compile(r"\$(?:(ARGUMENTS)\b|([1-9][0-9]?)(?![0-9]))")


def _snippet(text: str, limit: int = 60) -> str:
    """A short, printable excerpt of template text for error messages."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _literal(tokens: list[_Token], text: str, first_line: int) -> None:
    """Append literal ``text`` (which starts on file line ``first_line``), split at ``$ARGUMENTS``/``$N``."""
    pos = 0
    for match in _DOLLAR.finditer(text):
        if match.start() > pos:
            tokens.append(_Text(text[pos : match.start()]))
        line = first_line + text.count("\n", 0, match.start())
        tokens.append(_All(line) if match.group(1) else _Pos(int(match.group(2)), line))
        pos = match.end()
    if pos < len(text):
        tokens.append(_Text(text[pos:]))


def _tokenize(body: str, recipe_id: str, first_line: int = 1) -> list[_Token]:
    """Split a recipe body into literal text and placeholders (comments dropped).

    :param first_line: the recipe file's line number of the body's first line, so that errors name the
        line an author sees in their editor (the frontmatter comes before the body).
    :raises RecipeError: an unclosed ``{{`` or an action other than a placeholder or a comment.
    """
    tokens: list[_Token] = []
    pos = 0
    trim_next = False
    while True:
        start = body.find("{{", pos)
        literal = body[pos:] if start < 0 else body[pos:start]
        literal_line = first_line + body.count("\n", 0, pos)
        if trim_next:
            stripped = literal.lstrip()
            literal_line += literal[: len(literal) - len(stripped)].count("\n")
            literal = stripped
        line = first_line + body.count("\n", 0, start) if start >= 0 else 0
        inner_start = start + 2
        trim_before = body.startswith("-", inner_start) and body[inner_start + 1 : inner_start + 2].isspace()
        if trim_before:
            literal = literal.rstrip()
        if literal:
            _literal(tokens, literal, literal_line)
        if start < 0:
            return tokens
        cursor = inner_start + 2 if trim_before else inner_start
        while cursor < len(body) and body[cursor] in " \t\r\n" and trim_before:
            cursor += 1
        if body.startswith("/*", cursor):
            end_comment = body.find("*/", cursor + 2)
            if end_comment < 0:
                raise RecipeError(f"recipe {recipe_id} line {line}: comment '{{{{/*' is not closed with '*/}}}}'")
            after = end_comment + 2
            trim_after = False
            if body.startswith(" -}}", after):
                trim_after, close = True, after + 4
            elif body.startswith("}}", after):
                close = after + 2
            else:
                raise RecipeError(
                    f"recipe {recipe_id} line {line}: a comment must end with '*/}}}}' "
                    f"(got {_snippet(body[start : after + 4])!r})"
                )
            pos, trim_next = close, trim_after
            continue
        end = body.find("}}", cursor)
        if end < 0:
            raise RecipeError(
                f"recipe {recipe_id} line {line}: '{{{{' is not closed with '}}}}' near {_snippet(body[start:])!r}"
            )
        inner = body[cursor:end]
        trim_after = len(inner) >= 2 and inner.endswith("-") and inner[-2].isspace()
        if trim_after:
            inner = inner[:-1]
        match = _PLACEHOLDER.match(inner.strip())
        if match is not None and not inner.strip().startswith(".") and match.group(1) in _KEYWORDS:
            match = None
        if match is None:
            action = _snippet(body[start : end + 2])
            raise RecipeError(
                f"recipe {recipe_id} line {line}: {action!r} is not supported; recipes may only use "
                "{{.argument}} or {{ argument }} placeholders, $ARGUMENTS, $1… and {{/* comments */}}"
            )
        tokens.append(_Var(match.group(1), line))
        pos, trim_next = end + 2, trim_after


def _tokens(manifest: RecipeManifest) -> list[_Token]:
    return _tokenize(manifest.body, manifest.id, getattr(manifest, "body_line", 1))


def recipe_placeholders(manifest: RecipeManifest) -> list[str]:
    """Names of the arguments the recipe's body uses, in first-use order (``{{.x}}``/``{{ x }}``).

    :raises RecipeError: the body has an unsupported action (see module docstring).
    """
    seen: dict[str, None] = {}
    for token in _tokens(manifest):
        if isinstance(token, _Var):
            seen.setdefault(token.name, None)
    return list(seen)


def check_recipe(manifest: RecipeManifest) -> None:
    """Check a recipe's template without rendering it (install time).

    :raises RecipeError: an unsupported or unclosed action, named with its line in the recipe file.
    """
    _tokens(manifest)


def _positional(args: Mapping[str, str]) -> list[str]:
    """Values given without a name (keys ``"1"``, ``"2"``… from :func:`parse_recipe_args`), in order."""
    return [args[key] for key in sorted((k for k in args if k.isdigit()), key=int)]


def render_recipe(manifest: RecipeManifest, args: Mapping[str, str], *, raw: str | None = None) -> str:
    """Fill a recipe's placeholders with ``args`` and frontmatter defaults; the result is the prompt text.

    An argument's value is, in order: ``args[name]``, a value given without a name (filling the named
    arguments in declaration order when the body has no ``$1``), the frontmatter
    ``arguments.<name>.default``. An argument declared without a default, a name used in the body but not
    declared, and every ``$N`` the body uses are required.

    :param manifest: the parsed recipe (:func:`kiroclaw.skills.load_recipe`).
    :param args: argument name → value, and ``"1"``, ``"2"``… → values given without a name (from
        :func:`parse_recipe_args` or the CLI).
    :param raw: the text given after the recipe's name, for ``$ARGUMENTS``; default: ``args`` joined back
        (``value`` for unnamed values, ``name=value`` otherwise).
    :returns: the rendered prompt (≤ :data:`MAX_RENDERED_CHARS` characters).
    :raises RecipeError: an unsupported template action, an unknown argument name, a missing required
        argument, too many values, a non-string value, or an oversized result; the message names the culprit.
    """
    tokens = _tokens(manifest)
    used = [t.name for t in tokens if isinstance(t, _Var)]
    positions = sorted({t.index for t in tokens if isinstance(t, _Pos)})
    takes_all = any(isinstance(t, _All) for t in tokens)
    known = dict.fromkeys([*manifest.arguments, *used])
    for key, value in args.items():
        if not isinstance(value, str):
            raise RecipeError(f"recipe {manifest.id}: argument {_snippet(str(key), 40)} must be text")
    named = {key: value for key, value in args.items() if not key.isdigit()}
    positional = _positional(args)
    if positional and not positions and not takes_all:
        free = [name for name in known if name not in named]
        if len(positional) > len(free):
            wanted = ", ".join(free) if free else "none"
            raise RecipeError(
                f"recipe {manifest.id} takes {len(free)} value(s) without a name ({wanted}), "
                f"got {len(positional)}: {_snippet(' '.join(positional), 60)}"
            )
        named.update(zip(free, positional, strict=False))
    unknown = sorted(_snippet(str(key), 40) for key in named if key not in known)
    if unknown and not takes_all:
        allowed = ", ".join(known) if known else "none"
        raise RecipeError(f"recipe {manifest.id} has no argument {', '.join(unknown)} (its arguments: {allowed})")
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in known:
        if name in named:
            values[name] = named[name]
        elif name in manifest.arguments and manifest.arguments[name].default is not None:
            values[name] = manifest.arguments[name].default or ""
        else:
            missing.append(name)
    if missing:
        example = " ".join(f"{name}=…" for name in missing)
        raise RecipeError(f"recipe {manifest.id} needs argument(s) {', '.join(missing)}; add them as {example}")
    if positions and positions[-1] > len(positional):
        raise RecipeError(
            f"recipe {manifest.id} needs {positions[-1]} value(s) after its name (it uses "
            f"{', '.join(f'${n}' for n in positions)}), got {len(positional)}"
        )
    if raw is None:
        raw = " ".join(value if key.isdigit() else f"{key}={value}" for key, value in args.items())
    parts: list[str] = []
    size = 0
    for token in tokens:
        if isinstance(token, _Text):
            piece = token.text
        elif isinstance(token, _Var):
            piece = values[token.name]
        elif isinstance(token, _Pos):
            piece = positional[token.index - 1]
        else:
            piece = raw
        size += len(piece)
        if size > MAX_RENDERED_CHARS:
            raise RecipeError(f"recipe {manifest.id} renders to more than {MAX_RENDERED_CHARS} characters")
        parts.append(piece)
    return "".join(parts)


def parse_recipe_args(text: str) -> dict[str, str]:
    """Parse chat text ``key=value key2="quoted value" word`` into a dict, with shell-like quoting (``shlex``).

    Typographic quotes that phones insert (“ ” ‘ ’ „ « ») count as ASCII quotes. A word without ``=``
    is a value without a name: the first is stored under ``"1"``, the second under ``"2"``… (``$1``, ``$2``
    in Claude Code's commands; the named arguments in order otherwise, see :func:`render_recipe`).

    :returns: argument name → value, in the order given (``{}`` for blank text).
    :raises RecipeError: unbalanced quotes, a bad key, or a key twice.
    """
    if not isinstance(text, str):
        raise RecipeError("recipe arguments must be text")
    try:
        words = shlex.split(text.translate(_SMART_QUOTES), posix=True)
    except ValueError as exc:
        raise RecipeError(f"cannot read the recipe arguments: {str(exc).lower()}") from None
    result: dict[str, str] = {}
    unnamed = 0
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            unnamed += 1
            result[str(unnamed)] = word
            continue
        if not _ARG_NAME.match(key):
            raise RecipeError(f"{_snippet(key, 40)!r} is not a valid argument name")
        if key in result:
            raise RecipeError(f"argument {key} is given twice")
        result[key] = value
    return result
