"""A third-party source plugin, shipped as its own distribution, is picked up with no change to KiroClaw.

The test writes a throwaway project (its own ``pyproject.toml`` with an entry point in group
``kiroclaw``), builds a wheel from that pyproject (a minimal PEP 427 build, so the test needs no build
backend or network), pip-installs the wheel into a fresh virtualenv that inherits the project's
environment through a ``.pth`` file, and runs ``kiroclaw`` from that virtualenv.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import subprocess
import sys
import sysconfig
import threading
import tomllib
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "kiroclaw-source-echo"
version = "0.3.0"
description = "An example KiroClaw source: generates a one-file skill named after the spec."
dependencies = ["kiroclaw"]

[project.entry-points.kiroclaw]
echo = "kiroclaw_echo"
"""

PLUGIN = '''\
"""Example third-party source: ``echo:<name>`` stages a one-file skill called <name>."""
from pathlib import Path

import kiroclaw


class EchoSource(kiroclaw.Source):
    name = "echo"
    description = "a generated one-file skill (example third-party source)"

    def parse(self, spec):
        name = spec.strip().lower()
        if not name.replace("-", "").isalnum():
            raise kiroclaw.SpecError("echo: expected a plain name")
        return kiroclaw.Ref(source=self.name, spec=spec, locator=name, name=name)

    async def fetch(self, ref, staging_dir: Path, context):
        root = staging_dir / ref.locator
        root.mkdir()
        (root / "SKILL.md").write_text(
            f"---\\nname: {ref.locator}\\ndescription: Echo skill {ref.locator}.\\n---\\nSay hello.\\n"
        )
        return kiroclaw.Fetched(root=root, version="0.3.0", origin={"generator": "echo"})


class MirrorSource(kiroclaw.Source):
    """``mirror:<url>``: an archive from a mirror, fetched with the public toolbox alone."""

    name = "mirror"
    description = "an archive from an HTTP mirror (example third-party source)"

    def __init__(self, settings):
        self.settings = settings

    def parse(self, spec):
        checked = kiroclaw.check_url(spec.strip(), self.settings)  # the same URL rules as the url source
        return kiroclaw.Ref(source=self.name, spec=spec, locator=checked.url, name="mirrored")

    async def fetch(self, ref, staging_dir: Path, context):
        result = await context.download(ref.locator)  # address guard, redirects, byte cap, timeouts
        root = await context.extract(result.path)  # the safe extractor with context.limits
        return kiroclaw.Fetched(root=root, resolved_ref=result.sha256, origin={"url": ref.locator})


@kiroclaw.hookimpl
def register_sources(register, settings):
    register(EchoSource())
    register(MirrorSource(settings))
'''


def build_wheel(project: Path, out_dir: Path) -> Path:
    """Build a pure-Python wheel from ``project/pyproject.toml`` and ``project/src/<pkg>/``."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    dist = meta["name"].replace("-", "_")
    info = f"{dist}-{meta['version']}.dist-info"
    files: dict[str, bytes] = {}
    for path in sorted((project / "src").rglob("*.py")):
        files[path.relative_to(project / "src").as_posix()] = path.read_bytes()
    files[f"{info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
        f"Summary: {meta.get('description', '')}\n"
    ).encode()
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: kiroclaw-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    groups = meta.get("entry-points", {})
    files[f"{info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for group, eps in groups.items()
    ).encode()
    record_lines = []
    for name, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record_lines.append(f"{name},sha256={digest},{len(data)}")
    record_lines.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()
    wheel = out_dir / f"{dist}-{meta['version']}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture(scope="module")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv with the example distribution pip-installed; it inherits the project's packages."""
    base = tmp_path_factory.mktemp("third-party")
    project = base / "kiroclaw-source-echo"
    (project / "src" / "kiroclaw_echo").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "src" / "kiroclaw_echo" / "__init__.py").write_text(PLUGIN)
    wheel = build_wheel(project, base)

    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    venv_python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    parent = sysconfig.get_paths()["purelib"]
    # addsitedir (not a plain path line) so the parent's own .pth files, e.g. the editable kiroclaw, run
    Path(purelib, "_kiroclaw_parent_env.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(venv_python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return venv


def _kiroclaw(venv: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; from kiroclaw.cli import main; main(sys.argv[1:])"
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_a_pip_installed_distribution_adds_a_source_with_no_code_change(plugin_venv: Path, cli_env) -> None:
    proc = _kiroclaw(plugin_venv, "plugins", "--json", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    plugins = {p["name"]: p for p in data["plugins"]}
    assert plugins["echo"]["distribution"] == "kiroclaw-source-echo"
    assert plugins["echo"]["version"] == "0.3.0"
    assert plugins["echo"]["builtin"] is False
    assert plugins["local"]["distribution"] == "kiroclaw"
    assert {"name": "echo", "plugin": "echo"}.items() <= next(s for s in data["sources"] if s["name"] == "echo").items()

    proc = _kiroclaw(plugin_venv, "addon", "install", "echo:hello-there", "--user", "42", env=cli_env)
    assert proc.returncode == 0, proc.stderr
    proc = _kiroclaw(plugin_venv, "skills", "--user", "42", "--json", env=cli_env)
    skills = json.loads(proc.stdout)["skills"]
    assert [(s["name"], s["addon"]) for s in skills] == [("hello-there", "hello-there")]
    listing = json.loads(_kiroclaw(plugin_venv, "addon", "list", "--user", "42", "--json", env=cli_env).stdout)
    assert listing["addons"][0]["source"] == "echo"

    # the project's own environment does not have the distribution: the source exists only where installed
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "kiroclaw"), "plugins", "--json"],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "echo" not in {p["name"] for p in json.loads(proc.stdout)["plugins"]}


def _serve(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _zip(path: Path, members: dict[str, bytes], *, link: tuple[str, str] | None = None) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link[0])
            info.external_attr = 0o120777 << 16  # a symbolic link member
            archive.writestr(info, link[1])


def test_a_third_party_source_downloads_and_extracts_with_the_public_toolbox(
    plugin_venv: Path, cli_env, tmp_path: Path, workspace: Path
) -> None:
    site = tmp_path / "mirror"
    site.mkdir()
    skill = b"---\nname: mirrored-skill\ndescription: Fetched from a mirror.\n---\n# mirrored\n"
    _zip(site / "good.zip", {"mirrored-skill/SKILL.md": skill, "mirrored-skill/notes.txt": b"hi\n"})
    _zip(
        site / "evil.zip",
        {"evil-skill/SKILL.md": skill.replace(b"mirrored-skill", b"evil-skill")},
        link=("evil-skill/passwd", "/etc/passwd"),
    )
    server, base = _serve(site)
    env = {**cli_env, "URL_ALLOW_PRIVATE_HOSTS": "127.0.0.1"}
    try:
        proc = _kiroclaw(plugin_venv, "addon", "install", f"mirror:{base}/good.zip", "--user", "42", env=env)
        assert proc.returncode == 0, proc.stderr
        installed = workspace / "42" / ".kiro" / "skills" / "mirrored-skill"
        assert (installed / "notes.txt").read_bytes() == b"hi\n"
        # the toolbox's extractor refuses what the core's would (here a link member)
        proc = _kiroclaw(plugin_venv, "addon", "install", f"mirror:{base}/evil.zip", "--user", "42", env=env)
        assert proc.returncode == 1 and "link" in proc.stderr
        assert not (workspace / "42" / ".kiro" / "skills" / "evil-skill").exists()
        # and the download guard holds: without the admin's allowance a loopback host is refused
        proc = _kiroclaw(plugin_venv, "addon", "install", f"mirror:{base}/good.zip", "--user", "43", env=cli_env)
        assert proc.returncode == 1
    finally:
        server.shutdown()
        server.server_close()


def test_a_disabled_third_party_plugin_is_not_loaded(plugin_venv: Path, cli_env) -> None:
    env = {**cli_env, "KIROCLAW_DISABLE_PLUGINS": "echo"}
    data = json.loads(_kiroclaw(plugin_venv, "plugins", "--json", env=env).stdout)
    assert "echo" not in {p["name"] for p in data["plugins"]}
    proc = _kiroclaw(plugin_venv, "addon", "install", "echo:hello", "--user", "42", env=env)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "error: echo:hello: the 'echo' source is disabled on this server (KIROCLAW_DISABLE_PLUGINS)"
    )


def test_the_example_plugin_text_is_what_the_docs_show() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    assert '[project.entry-points.kiroclaw]\necho = "kiroclaw_echo"' in docs
