"""Built-in source ``upload``: install an archive file on this machine — a file sent in chat, or a path given
to the CLI (``kiroclaw addon install ./my-skill.zip --user 42``).

Specs it claims: a path (``./x.zip``, ``../x``, ``/abs/x``, ``~/x``) ending in ``.zip``, ``.skill``,
``.tar.gz``, ``.tgz``, ``.tar``, ``.tar.bz2`` or ``.tar.xz``, or explicitly ``upload:<path>`` (any file;
the format is sniffed from the bytes). A path to a folder is the ``local`` source's, so the claims are
disjoint. The bot saves an uploaded document into a folder of its own and installs it with
``local_roots`` set to that folder; the CLI may read any path.

The archive goes through the shared safe extraction (``context.extract``: links, devices, escapes,
duplicate names and bombs refused; the size, file, depth and path caps). The package name offered to the
core is the file name without its archive suffix; the registry records the spec ``upload:<file name>``
(never the folder it was read from) and the archive's sha256 as ``origin["sha256"]``. An uploaded add-on
has nowhere to be updated from: ``update`` reports it as skipped ("uploaded: install a newer file to
update it").
"""

from __future__ import annotations

import asyncio
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from kiroclaw import (
    AddonRecord,
    FetchContext,
    Fetched,
    NotFoundError,
    QuotaExceededError,
    Ref,
    Settings,
    Source,
    SpecError,
    UpdateSkippedError,
    hookimpl,
    sha256_file,
)

SOURCE_NAME = "upload"
#: Archive suffixes this source claims in shorthand specs (lower-case).
ARCHIVE_SUFFIXES = (".zip", ".skill", ".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz")
_PATH_SPEC = re.compile(r"^(?:\.{1,2}/.*|~/.*|/.*)$", re.S)
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


def package_name_for(file_name: str) -> str:
    """A package name from an archive's file name: the suffix dropped, other characters made safe."""
    stem = file_name
    for suffix in ARCHIVE_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    return (_NAME_CHARS.sub("-", stem).strip("-.") or "uploaded-addon")[:100]


class UploadSource(Source):
    """The ``upload`` source (see the module docstring)."""

    name = SOURCE_NAME
    description = "an archive file on this machine (.zip, .skill, .tar.gz): sent in chat, or ./my-skill.zip"

    def claims(self, spec: str) -> bool:
        """A path ending in an archive suffix (``./my-skill.zip``, ``/tmp/x.tar.gz``)."""
        text = spec.strip()
        return bool(_PATH_SPEC.match(text)) and text.lower().endswith(ARCHIVE_SUFFIXES)

    def parse(self, spec: str) -> Ref:
        """``spec`` is a path to an archive file; made absolute (``~`` expanded).

        :raises SpecError: empty, a NUL, or a ``file:`` URL.
        """
        text = spec.strip()
        if not text or "\x00" in text:
            raise SpecError("a path to an archive file is required")
        if text.startswith("file:"):
            raise SpecError("file: URLs are not paths; give the path itself (./my-skill.zip)")
        path = Path(os.path.abspath(os.path.expanduser(text)))
        # the recorded spec names the file, never where it was (a bot upload lives in a temporary folder)
        spec_text = f"upload:{path.name}"
        return Ref(source=self.name, spec=spec_text, locator=str(path), name=package_name_for(path.name))

    async def fetch(self, ref: Ref, staging_dir: Path, context: FetchContext) -> Fetched:
        """Unpack the archive into ``staging_dir`` with ``context.extract``.

        :raises SpecError: ``--version`` was given, or the path is not a file.
        :raises PermissionDeniedError: outside ``context.local_roots``.
        :raises NotFoundError: no such file.
        :raises QuotaExceededError: the file is larger than ``MAX_ADDON_SIZE_MB``.
        :raises UnsafeContentError, LimitExceededError: hostile or oversized content.
        """
        if ref.version is not None:
            raise SpecError("an uploaded archive is installed as it is; --version is not supported")
        path = context.check_local_path(Path(ref.locator))
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise NotFoundError("no such archive file") from None
        except OSError as exc:
            raise NotFoundError(f"the archive cannot be read ({exc.strerror})") from None
        if not stat.S_ISREG(st.st_mode):
            raise SpecError("not a file: the upload source installs archive files (a folder is ./dir)")
        if st.st_size > context.max_bytes:
            limit_mb = context.max_bytes // (1024 * 1024)
            raise QuotaExceededError(f"the file is larger than the {limit_mb} MB add-on limit")
        context.progress("extracting", path.name)
        digest = await asyncio.to_thread(sha256_file, path)
        root = await context.extract(path, staging_dir / "upload")
        return Fetched(root=root, resolved_ref=digest, origin={"upload": path.name, "sha256": digest}, name=ref.name)

    async def latest(self, installed: AddonRecord) -> str | None:
        """Never: an uploaded file has nowhere to be updated from.

        :raises UpdateSkippedError: always ("uploaded: install a newer file to update it").
        """
        raise UpdateSkippedError("uploaded: install a newer file to update it")


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    register(UploadSource())
