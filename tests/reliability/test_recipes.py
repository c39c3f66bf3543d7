"""Recipe rendering: Kodelet-style placeholders, defaults, strict errors (kiroclaw.recipes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiroclaw.errors import RecipeError, ValidationError
from kiroclaw.recipes import parse_recipe_args, recipe_placeholders, render_recipe
from kiroclaw.skills import load_recipe


def _recipe(tmp_path: Path, text: str, rid: str = "ops/deploy"):
    root = tmp_path / "recipes"
    path = root / f"{rid}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_recipe(path, root)


DEPLOY = """---
name: Deploy
description: deploy a service
arguments:
  service:
    description: which service
  env:
    description: target environment
    default: staging
---
{{/* This comment never reaches the agent. */}}
Deploy {{.service}} to {{ .env }}.
"""


def test_defaults_from_frontmatter_and_comments_dropped(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, DEPLOY)
    out = render_recipe(recipe, {"service": "api"})
    assert out.strip() == "Deploy api to staging."
    assert "comment" not in out
    assert render_recipe(recipe, {"service": "api", "env": "prod"}).strip() == "Deploy api to prod."


def test_trim_markers_follow_go_templates(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "a  \n{{- /* c */ -}}\n  b {{- .x -}} c\n")
    assert render_recipe(recipe, {"x": "X"}) == "abXc\n"


def test_missing_required_argument_is_named(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, DEPLOY)
    with pytest.raises(RecipeError, match=r"needs argument\(s\) service"):
        render_recipe(recipe, {})


def test_undeclared_placeholder_is_required(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "Hello {{.who}}\n")
    assert recipe_placeholders(recipe) == ["who"]
    with pytest.raises(RecipeError, match="who"):
        render_recipe(recipe, {})
    assert render_recipe(recipe, {"who": "Ann"}) == "Hello Ann\n"


def test_unknown_argument_is_refused(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, DEPLOY)
    with pytest.raises(RecipeError, match=r"has no argument region \(its arguments: service, env\)"):
        render_recipe(recipe, {"service": "api", "region": "eu"})


@pytest.mark.parametrize(
    "action",
    [
        '{{bash "git" "status"}}',
        '{{include "other.md"}}',
        '{{default .env "x"}}',
        "{{if .x}}yes{{end}}",
        "{{.Env.HOME}}",
        "{{ . }}",
        "{{ /* space before comment */ }}",
        "{{`raw`}}",
    ],
)
def test_unsupported_actions_are_errors_never_sent_raw(tmp_path: Path, action: str) -> None:
    # Checked when the recipe is loaded (at install time), so it can never be rendered at all.
    with pytest.raises(ValidationError) as info:
        _recipe(tmp_path, f"line one\nrun {action} now\n")
    message = info.value.user_message
    assert "line 2" in message and "not supported" in message
    assert action[:8] in message


@pytest.mark.parametrize("body", ["Hi {{.x", "{{/* never closed", "{{/* c */ x}}"])
def test_unclosed_actions_are_errors(tmp_path: Path, body: str) -> None:
    with pytest.raises(ValidationError):
        _recipe(tmp_path, body)


def test_values_are_inserted_verbatim_not_reparsed(tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "say {{.x}}")
    assert render_recipe(recipe, {"x": '{{bash "rm -rf /"}} {{.x}}'}) == 'say {{bash "rm -rf /"}} {{.x}}'


def test_literal_closing_braces_and_jinja_syntax_pass_through(tmp_path: Path) -> None:
    text = 'json: {"a": {"b": 1}} and {% raw %} {# not jinja #}\n'
    assert render_recipe(_recipe(tmp_path, text), {}) == text


def test_parse_recipe_args_quoting() -> None:
    assert parse_recipe_args("service=api env=\"prod eu\" note='it is' empty=") == {
        "service": "api",
        "env": "prod eu",
        "note": "it is",
        "empty": "",
    }
    assert parse_recipe_args("   ") == {}
    # phones replace ASCII quotes with typographic ones
    assert parse_recipe_args("msg=“hello there”") == {"msg": "hello there"}
    assert parse_recipe_args("url=https://x.test/?a=b") == {"url": "https://x.test/?a=b"}
    # words without a name are values in order ($1, $2… or the named arguments in order)
    assert parse_recipe_args('develop focus=tests "two words"') == {"1": "develop", "focus": "tests", "2": "two words"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('a="open', "no closing quotation"),
        ("9x=1", "not a valid argument name"),
        ("a=1 a=2", "given twice"),
        ("=v", "not a valid argument name"),
    ],
)
def test_parse_recipe_args_errors(text: str, match: str) -> None:
    with pytest.raises(RecipeError, match=match):
        parse_recipe_args(text)
