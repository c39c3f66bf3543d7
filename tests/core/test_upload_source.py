"""Uploads are a source: ``kiroclaw addon install ./x.zip --user 42`` goes through the same ``upload``
source the bot uses; ``update`` of an uploaded add-on is a skipped line, exit 0."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from tests.conftest import run_kiroclaw


def _zip_of_skill(path: Path, name: str) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}/SKILL.md", f"---\nname: {name}\ndescription: The {name} skill.\n---\n# {name}\n")
        archive.writestr(f"{name}/scripts/run.sh", "echo hi\n")
    path.write_bytes(buffer.getvalue())
    return path


def test_cli_installs_a_local_archive_and_update_skips_it(cli_env, tmp_path: Path, workspace: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    _zip_of_skill(work / "x.zip", "zipped-skill")
    proc = run_kiroclaw("addon", "install", "./x.zip", "--user", "42", "--json", env=cli_env, cwd=work)
    assert proc.returncode == 0, proc.stderr
    (result,) = json.loads(proc.stdout)["results"]
    assert result["ok"] is True and result["addon"]["source"] == "upload"
    assert result["addon"]["name"] == "zipped-skill"
    assert result["addon"]["spec"] == "upload:x.zip" and str(work) not in json.dumps(result["addon"])
    assert (workspace / "42" / ".kiro" / "skills" / "zipped-skill" / "scripts" / "run.sh").read_bytes() == b"echo hi\n"

    update = run_kiroclaw("addon", "update", "zipped-skill", "--user", "42", env=cli_env, cwd=work)
    assert update.returncode == 0, update.stderr
    assert "skipped" in update.stdout and "uploaded: install a newer file to update it" in update.stdout


def test_a_folder_path_stays_local_and_an_archive_path_is_upload(cli_env, tmp_path: Path) -> None:
    from kiroclaw.config import Settings
    from kiroclaw.host import Host

    host = Host(Settings(_env_file=None, workspace_base_path=tmp_path / "ws"))
    assert host.source_for("./some/folder")[0].name == "local"
    assert host.source_for("./some/skill.zip")[0].name == "upload"
    assert host.source_for("/abs/skill.tar.gz")[0].name == "upload"
    assert host.source_for("local:./odd.zip")[0].name == "local"  # the explicit form wins
