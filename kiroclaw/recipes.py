"""Render recipes (user-invoked prompt templates) into the prompt text sent to the agent.

Recipes use the subset of Kodelet's Go ``text/template`` syntax that needs no code execution:

* ``{{.name}}`` (also ``{{ .name }}``) inserts the argument ``name``;
* ``{{/* a comment */}}`` is dropped;
* Go's trim markers work on both: ``{{- .name -}}`` removes the white space before/after the action.

Anything else between ``{{`` and ``}}`` (Kodelet's ``{{bash "git" "status"}}``, ``{{include …}}``,
``{{default .x "y"}}``, ``{{if}}``…) is a :class:`~kiroclaw.errors.RecipeError` naming the action and its
line: a recipe from the internet must never run commands on the bot's host, and an unsupported action is
never passed on raw to the agent either.

Why a small strict tokenizer rather than Jinja2's ``SandboxedEnvironment``: the recipes are Go templates,
whose ``{{.name}}`` is not a Jinja expression (Jinja fails on the leading dot), so Jinja would need a
translation step and would then accept its whole expression language (filters, attribute access, loops,
``{% %}`` blocks, ``{# #}`` comments) in text that is *not* meant as Jinja; a recipe that legitimately
shows ``{% raw %}`` or ``{# … #}`` to the agent would break. Two allowed action forms are easier to make
exact with a 60-line scanner, and a scanner cannot evaluate anything, so there is nothing to sandbox.

Argument values are inserted verbatim in one pass: a value holding ``{{…}}`` is never re-parsed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import RecipeError
from .skills import RecipeManifest

#: Largest rendered prompt, in characters (a recipe body is ≤ 1 MiB; values come from one chat message).
MAX_RENDERED_CHARS = 2 * 1024 * 1024
#: Argument names: the same rule as recipe frontmatter (``kiroclaw.skills._ARG_NAME``).
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")
_PLACEHOLDER = re.compile(r"^\.([A-Za-z_][A-Za-z0-9_-]{0,63})\Z")
#: Typographic quotes phones substitute for ASCII ones in chat (iOS "smart punctuation").
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'"})


@dataclass(frozen=True)
class _Text:
    text: str


@dataclass(frozen=True)
class _Var:
    name: str
    line: int


def _snippet(text: str, limit: int = 60) -> str:
    """A short, printable excerpt of template text for error messages."""
    clean = "".join(c if c.isprintable() else " " for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def _tokenize(body: str, recipe_id: str) -> list[_Text | _Var]:
    """Split a recipe body into literal text and ``{{.name}}`` placeholders (comments dropped).

    :raises RecipeError: an unclosed ``{{`` or an action other than a placeholder or a comment.
    """
    tokens: list[_Text | _Var] = []
    pos = 0
    trim_next = False
    while True:
        start = body.find("{{", pos)
        literal = body[pos:] if start < 0 else body[pos:start]
        if trim_next:
            literal = literal.lstrip()
        line = body.count("\n", 0, start) + 1 if start >= 0 else 0
        inner_start = start + 2
        trim_before = body.startswith("-", inner_start) and body[inner_start + 1 : inner_start + 2].isspace()
        if trim_before:
            literal = literal.rstrip()
        if literal:
            tokens.append(_Text(literal))
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
        if match is None:
            action = _snippet(body[start : end + 2])
            raise RecipeError(
                f"recipe {recipe_id} line {line}: {action!r} is not supported; recipes may only use "
                "{{.argument}} placeholders and {{/* comments */}}"
            )
        tokens.append(_Var(match.group(1), line))
        pos, trim_next = end + 2, trim_after


def recipe_placeholders(manifest: RecipeManifest) -> list[str]:
    """Names of the arguments the recipe's body uses, in first-use order.

    :raises RecipeError: the body has an unsupported action (see module docstring).
    """
    seen: dict[str, None] = {}
    for token in _tokenize(manifest.body, manifest.id):
        if isinstance(token, _Var):
            seen.setdefault(token.name, None)
    return list(seen)


def render_recipe(manifest: RecipeManifest, args: Mapping[str, str]) -> str:
    """Fill a recipe's placeholders with ``args`` and frontmatter defaults; the result is the prompt text.

    An argument's value is, in order: ``args[name]``, the frontmatter ``arguments.<name>.default``.
    An argument declared without a default, or used in the body but not declared, is required.

    :param manifest: the parsed recipe (:func:`kiroclaw.skills.load_recipe`).
    :param args: argument name → value (from :func:`parse_recipe_args` or the CLI).
    :returns: the rendered prompt (≤ :data:`MAX_RENDERED_CHARS` characters).
    :raises RecipeError: an unsupported template action, an unknown argument name, a missing required
        argument, a non-string value, or an oversized result; the message names the culprit.
    """
    tokens = _tokenize(manifest.body, manifest.id)
    used = [t.name for t in tokens if isinstance(t, _Var)]
    known = dict.fromkeys([*manifest.arguments, *used])
    unknown = sorted(str(key) for key in args if key not in known)
    if unknown:
        allowed = ", ".join(known) if known else "none"
        raise RecipeError(
            f"recipe {manifest.id} has no argument {', '.join(_snippet(k, 40) for k in unknown)} "
            f"(its arguments: {allowed})"
        )
    values: dict[str, str] = {}
    missing: list[str] = []
    for name in known:
        if name in args:
            value = args[name]
            if not isinstance(value, str):
                raise RecipeError(f"recipe {manifest.id}: argument {name} must be text")
            values[name] = value
        elif name in manifest.arguments and manifest.arguments[name].default is not None:
            values[name] = manifest.arguments[name].default or ""
        else:
            missing.append(name)
    if missing:
        example = " ".join(f"{name}=…" for name in missing)
        raise RecipeError(f"recipe {manifest.id} needs argument(s) {', '.join(missing)}; add them as {example}")
    parts: list[str] = []
    size = 0
    for token in tokens:
        piece = token.text if isinstance(token, _Text) else values[token.name]
        size += len(piece)
        if size > MAX_RENDERED_CHARS:
            raise RecipeError(f"recipe {manifest.id} renders to more than {MAX_RENDERED_CHARS} characters")
        parts.append(piece)
    return "".join(parts)


def parse_recipe_args(text: str) -> dict[str, str]:
    """Parse chat text ``key=value key2="quoted value"`` into a dict, with shell-like quoting (``shlex``).

    Typographic quotes that phones insert (“ ” ‘ ’ „ « ») count as ASCII quotes.

    :returns: argument name → value, in the order given (``{}`` for blank text).
    :raises RecipeError: unbalanced quotes, a word that is not ``key=value``, a bad key, or a key twice.
    """
    if not isinstance(text, str):
        raise RecipeError("recipe arguments must be text")
    try:
        words = shlex.split(text.translate(_SMART_QUOTES), posix=True)
    except ValueError as exc:
        raise RecipeError(f"cannot read the recipe arguments: {str(exc).lower()}") from None
    result: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise RecipeError(f"expected key=value, got {_snippet(word, 40)!r}")
        if not _ARG_NAME.match(key):
            raise RecipeError(f"{_snippet(key, 40)!r} is not a valid argument name")
        if key in result:
            raise RecipeError(f"argument {key} is given twice")
        result[key] = value
    return result
