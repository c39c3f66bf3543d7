"""``kiroclaw addon list`` reads the registry without pydantic (:mod:`kiroclaw.registry_read`): whatever
that reader accepts, the registry's models accept with the same values; what it does not vouch for goes
through the models, so ``addon list`` shows the same add-ons either way, and a corrupt file is still
moved aside and reported."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiroclaw.cli_addons import record_json
from kiroclaw.models import REGISTRY_SCHEMA_VERSION, AddonRecord, RegistryDocument
from kiroclaw.registry import dump_registry, parse_registry
from kiroclaw.registry_read import FIELDS, ListedRecord, parse_listing, read_listing
from tests.conftest import DEMO_PACKAGE, run_kiroclaw

BOUNDED = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _values(record: Any) -> dict[str, Any]:
    """Every field of a record, timestamps as their ISO text (an aware and a naive time never compare)."""
    out = {}
    for name in FIELDS:
        value = getattr(record, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    return out


def test_the_reader_knows_every_field_of_the_model_with_its_default() -> None:
    model = AddonRecord.model_fields
    assert list(FIELDS) == list(model)
    assert {f.name for f in dataclasses.fields(ListedRecord)} == set(model)
    for field in dataclasses.fields(ListedRecord):
        info = model[field.name]
        if field.name == "installed_at":  # the models stamp a record without one; the reader leaves it to them
            assert info.default_factory is not None
            continue
        if info.is_required():
            assert field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
        elif info.default_factory is not None:
            assert field.default_factory is not dataclasses.MISSING
            assert field.default_factory() == info.default_factory()  # type: ignore[call-arg]
        else:
            assert field.default == info.default, field.name


GOOD_TIMES = st.datetimes(timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat())
TIMESTAMPS = st.one_of(
    GOOD_TIMES,
    GOOD_TIMES.map(lambda text: text.replace("+00:00", "Z")),
    st.from_regex(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,7})?(Z|[+-]\d\d:\d\d)?\Z"),
    st.sampled_from(["2026-01-01", "2026-01-01 12:00:00Z", "2026-02-30T00:00:00Z", "1767225600", "now"]),
)
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=4),
    st.sampled_from(["true", "0", "12", "skill", "plugin", "Skill", "1e3"]),
    st.lists(st.one_of(st.text(max_size=3), st.integers()), max_size=2),
    st.dictionaries(st.text(max_size=3), st.one_of(st.text(max_size=3), st.integers()), max_size=2),
    TIMESTAMPS,
)
VALID: dict[str, st.SearchStrategy[Any]] = {
    "name": st.text(min_size=1, max_size=6),
    "version": st.one_of(st.none(), st.text(max_size=6)),
    "source": st.sampled_from(["local", "github"]),
    "spec": st.text(max_size=8),
    "kind": st.sampled_from(["skill", "plugin"]),
    "path": st.text(alphabet="ab.-", min_size=1, max_size=4).map(lambda n: f".kiro/skills/{n}"),
    "enabled": st.booleans(),
    "skills": st.lists(st.text(max_size=4), max_size=3),
    "recipes": st.lists(st.text(max_size=4), max_size=3),
    "skipped": st.lists(st.text(max_size=4), max_size=2),
    "warnings": st.lists(st.text(max_size=4), max_size=2),
    "description": st.one_of(st.none(), st.text(max_size=6)),
    "installed_at": GOOD_TIMES,
    "updated_at": st.one_of(st.none(), GOOD_TIMES),
    "origin": st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
    "pinned": st.booleans(),
    "fingerprint": st.text(alphabet="0123456789abcdef", max_size=8),
    "size_bytes": st.integers(min_value=0, max_value=2**40),
}


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    """A record as JSON: every field valid, or up to two of them of an odd type or absent; sometimes an
    unknown key."""
    item = {name: draw(valid) for name, valid in VALID.items()}
    for name in draw(st.lists(st.sampled_from(list(VALID)), max_size=2)):
        if draw(st.booleans()):
            item[name] = draw(ODD)
        else:
            item.pop(name, None)
    if draw(st.booleans()):
        item["future_field"] = draw(ODD)
    return item


#: mostly records, sometimes something else in the ``addons`` list
ITEMS = st.sampled_from(["record"] * 6 + ["odd"]).flatmap(lambda kind: records() if kind == "record" else ODD)


@BOUNDED
@given(
    version=st.sampled_from([REGISTRY_SCHEMA_VERSION] * 8 + [0, 2, True, 1.0, "1", None]),
    items=st.lists(ITEMS, max_size=3),
)
def test_what_the_reader_accepts_the_models_accept_with_the_same_values(version: Any, items: list[Any]) -> None:
    data = json.dumps({"schema_version": version, "addons": items}).encode()
    fast = parse_listing(data)
    if fast is None:
        return  # not vouched for: addon list reads it through the models
    doc = parse_registry(data)  # must not raise: the reader accepted it
    assert [_values(r) for r in fast] == [_values(r) for r in doc.addons]
    assert [record_json(r) for r in fast] == [record_json(r) for r in doc.addons]


PLAIN = st.builds(
    AddonRecord,
    name=st.text(min_size=1, max_size=10),
    version=st.one_of(st.none(), st.text(max_size=6)),
    source=st.sampled_from(["local", "github", "kirohub"]),
    spec=st.text(max_size=10),
    kind=st.sampled_from(["skill", "plugin"]),
    path=st.text(alphabet="abc-_.", min_size=1, max_size=6).map(lambda n: f".kiro/skills/x{n}"),
    skills=st.lists(st.text(max_size=5), max_size=3),
    installed_at=st.datetimes(timezones=st.just(UTC)),
    updated_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
    origin=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
    size_bytes=st.integers(min_value=0, max_value=2**50),
)


@BOUNDED
@given(st.lists(PLAIN, max_size=4, unique_by=(lambda r: r.name, lambda r: r.path)))
def test_every_registry_kiroclaw_writes_is_read_without_the_models(addons: list[AddonRecord]) -> None:
    data = dump_registry(RegistryDocument(addons=addons))
    fast = parse_listing(data)
    assert fast is not None, data
    assert [_values(r) for r in fast] == [_values(r) for r in parse_registry(data).addons]


def test_a_missing_registry_is_empty_and_an_unreadable_one_is_left_to_the_models(tmp_path: Path) -> None:
    assert read_listing(tmp_path / "addons.json") == []
    (tmp_path / "folder.json").mkdir()
    assert read_listing(tmp_path / "folder.json") is None


def _list_json(env: dict[str, str], user: str) -> list[dict[str, Any]]:
    proc = run_kiroclaw("addon", "list", "--user", user, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["addons"]


def test_addon_list_shows_a_registry_only_the_models_read_as_they_read_it(cli_env: dict[str, str]) -> None:
    assert run_kiroclaw("addon", "install", str(DEMO_PACKAGE), "--user", "7", env=cli_env).returncode == 0
    registry = Path(cli_env["WORKSPACE_BASE_PATH"]) / "7" / "addons.json"
    plain = _list_json(cli_env, "7")
    doc = json.loads(registry.read_text())
    doc["addons"][0]["size_bytes"] = str(doc["addons"][0]["size_bytes"])  # the models coerce "3305" to 3305
    doc["addons"][0]["enabled"] = "true"
    registry.write_text(json.dumps(doc))
    assert parse_listing(registry.read_bytes()) is None
    assert _list_json(cli_env, "7") == plain
    assert not [p for p in registry.parent.iterdir() if ".corrupt-" in p.name]
