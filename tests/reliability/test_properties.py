"""Property tests (hypothesis, bounded): untrusted text never raises anything but KiroclawError, and no
accepted name or path escapes its root.

Covers spec parsing (``host.source_for`` and every source's ``parse``), frontmatter parsing
(``split_frontmatter``, ``load_skill``, ``load_recipe``), name validation, archive member path
normalisation (``kiroclaw.acquire.check_member_name``), registry parsing and the recipe renderer.
Each property runs at most 200 examples so the suite stays fast in CI.
"""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path, PurePosixPath

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiroclaw.acquire import ExtractLimits, check_member_name
from kiroclaw.addons import check_addon_name, package_dir_for
from kiroclaw.config import Settings
from kiroclaw.errors import KiroclawError
from kiroclaw.host import Host
from kiroclaw.recipes import parse_recipe_args, render_recipe
from kiroclaw.registry import parse_registry, record_path_problem
from kiroclaw.skills import (
    RecipeArgument,
    RecipeManifest,
    is_safe_skill_name,
    load_recipe,
    load_skill,
    skill_name_problems,
    split_frontmatter,
)
from kiroclaw.workspaces import Scope

BOUNDED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: pieces that hostile specs, names and paths are made of
TOKENS = [
    "..",
    ".",
    "/",
    "//",
    "\\",
    ":",
    "@",
    "~",
    "C:",
    "c:\\",
    "%2e",
    "%2f",
    "%00",
    "\x00",
    "\n",
    "\t",
    "\u202e",
    "\u200b",
    "ｐ",
    "р",
    "é",
    "e\u0301",
    "ß",
    "SS",
    "-",
    "--",
    "_",
    "a",
    "z",
    "0",
    "9",
    "org",
    "repo",
    "x",
    "https://",
    "http://",
    "file://",
    "ext::",
    "git@",
    "github.com",
    "127.0.0.1",
    "[::1]",
    "?",
    "#",
    "=",
    "local:",
    "github:",
    "url:",
    "kirohub:",
    ".git",
    ".kiroclaw.json",
    "addons.json",
    ".staging",
    "*",
    " ",
    "{{",
    "}}",
    "{{.",
    "/*",
    "*/",
    "-}}",
    "{{-",
    "$",
    "'",
    '"',
    "\u2028",
    "\ufeff",
]
hostile_text = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=4)), max_size=20).map("".join),
)


@cache
def _host() -> Host:
    workspace = Path(tempfile.mkdtemp(prefix="kiroclaw-prop-"))
    return Host(Settings(_env_file=None, workspace_base_path=workspace))  # type: ignore[call-arg]


def _inside(root: Path, parts: tuple[str, ...] | list[str]) -> bool:
    if any(p in {"", ".", ".."} or "/" in p or "\\" in p or "\x00" in p for p in parts):
        return False
    target = (root.joinpath(*parts)).resolve()
    return target != root and target.is_relative_to(root)


@BOUNDED
@given(hostile_text)
def test_spec_parsing_raises_only_kiroclaw_errors(spec: str) -> None:
    host = _host()
    try:
        source, rest = host.source_for(spec)
        ref = source.parse(rest)
    except KiroclawError:
        return
    assert ref.source == source.name
    assert isinstance(ref.name, str) and ref.name


@BOUNDED
@given(st.sampled_from(["local", "github", "url", "kirohub"]), hostile_text)
def test_each_source_parse_raises_only_kiroclaw_errors(name: str, spec: str) -> None:
    source = _host().sources.get(name)
    if source is None:
        return
    try:
        source.parse(spec)
    except KiroclawError:
        pass


@BOUNDED
@given(hostile_text)
def test_accepted_names_stay_one_segment_inside_the_root(name: str) -> None:
    root = Path("/srv/ws/42/.kiro/skills")
    if not skill_name_problems(name):
        assert is_safe_skill_name(name) and _inside(root, [name])
    try:
        folder = package_dir_for(check_addon_name(name))
    except KiroclawError:
        return
    assert _inside(Path("/srv/ws/42/.kiro/plugins"), [folder])


@BOUNDED
@given(hostile_text)
def test_user_ids_and_thread_ids(text: str) -> None:
    try:
        scope = Scope.user(text)
    except KiroclawError:
        return
    assert scope.user_id is not None and scope.user_id > 0 and str(scope.user_id).isdigit()
    root = Path("/srv/ws")
    assert _inside(root, [str(scope.user_id)])


@BOUNDED
@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), max_size=30).map("".join))
def test_archive_member_names_never_escape(raw: str) -> None:
    limits = ExtractLimits(max_files=100, max_depth=16, max_path_chars=256)
    try:
        parts = check_member_name(raw, limits)
    except KiroclawError:
        return
    if parts is None:
        return
    root = Path("/srv/ws/42/.staging/abc/tree")
    assert _inside(root, list(parts)), (raw, parts)
    assert not any(p.startswith(".kiroclaw") for p in parts)


@BOUNDED
@given(hostile_text)
def test_registry_paths_accepted_only_inside(path: str) -> None:
    if record_path_problem(path) is None:
        assert _inside(Path("/srv/ws/42"), PurePosixPath(path).parts)


@BOUNDED
@given(st.binary(max_size=300) | hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")))
def test_registry_parsing_raises_only_value_error(data: bytes) -> None:
    try:
        doc = parse_registry(data)
    except ValueError:
        return
    for record in doc.addons:
        assert record_path_problem(record.path) is None


frontmatter_docs = st.one_of(
    hostile_text,
    st.builds(
        lambda head, body: f"---\n{head}\n---\n{body}",
        st.lists(
            st.sampled_from(
                ["name: x", "name: [", "description: d", "a: &a [*a]", "? :", "- 1", "{", "!!python/object:os.system"]
            )
            | hostile_text,
            max_size=5,
        ).map("\n".join),
        hostile_text,
    ),
)


@BOUNDED
@given(frontmatter_docs)
def test_frontmatter_parsing_raises_only_kiroclaw_errors(text: str) -> None:
    try:
        data, _body = split_frontmatter(text)
    except KiroclawError:
        return
    assert isinstance(data, dict)


@settings(max_examples=100, deadline=None)
@given(frontmatter_docs, st.sampled_from(["weather-api", "x", "A b"]))
def test_load_skill_and_recipe_raise_only_kiroclaw_errors(text: str, folder: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        skill_dir = Path(tmp) / folder
        skill_dir.mkdir()
        (skill_dir / "SKILL.md").write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            manifest = load_skill(skill_dir)
        except KiroclawError:
            pass
        else:
            assert manifest.name == folder and is_safe_skill_name(manifest.name)
        recipes = Path(tmp) / "recipes"
        recipes.mkdir()
        (recipes / "r.md").write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            load_recipe(recipes / "r.md", recipes)
        except KiroclawError:
            pass


@BOUNDED
@given(
    hostile_text,
    st.dictionaries(st.sampled_from(["x", "arg", "who", "9", "a-b"]) | hostile_text, hostile_text, max_size=4),
    st.dictionaries(st.sampled_from(["x", "arg"]), st.none() | hostile_text, max_size=2),
)
def test_recipe_renderer_raises_only_recipe_errors(
    body: str, args: dict[str, str], defaults: dict[str, str | None]
) -> None:
    manifest = RecipeManifest(
        id="r",
        title="r",
        description="",
        path=Path("r.md"),
        arguments={k: RecipeArgument(k, default=v) for k, v in defaults.items()},
        body=body,
    )
    try:
        out = render_recipe(manifest, args)
    except KiroclawError:
        return
    if "{{" not in body:
        assert out == body


@BOUNDED
@given(hostile_text)
def test_recipe_args_parse_raises_only_recipe_errors(text: str) -> None:
    try:
        parsed = parse_recipe_args(text)
    except KiroclawError:
        return
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items())
