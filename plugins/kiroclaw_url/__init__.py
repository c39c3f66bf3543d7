"""Built-in source ``url``: install a skill or plugin package from an archive URL, or a raw ``SKILL.md``.

Specs it claims (and explicit ``url:<spec>``): ``https://…`` URLs whose path ends in ``.zip``, ``.tar.gz``,
``.tgz``, ``.tar``, ``.skill`` (a zip) or ``SKILL.md`` (a single-file skill). Plain ``http://`` only for hosts
in ``URL_ALLOW_HTTP_HOSTS`` or ``URL_ALLOW_PRIVATE_HOSTS``. An optional ``#sha256=<64 hex>`` fragment pins
the download's digest: it is checked before anything is extracted, and the add-on is pinned.

Downloading and extraction are the public toolbox's (``context.download``: timeouts, redirects, the address
guard, the byte cap; ``kiroclaw.sniff_format``; ``context.extract``: the safe extractor). The package name
offered to the core is the archive's file name without its extension (``weather-tools.zip`` →
``weather-tools``); the core names a single skill by its frontmatter and takes its ``metadata.version``.
The archive's sha256 is recorded as ``origin["sha256"]``, and ``latest`` re-downloads the URL and reports a
new digest when the file changed.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import kiroclaw
from kiroclaw import (
    AddonRecord,
    FetchContext,
    Fetched,
    Ref,
    Settings,
    Source,
    SpecError,
    UnsafeContentError,
    hookimpl,
)

if TYPE_CHECKING:
    from kiroclaw import HostResolver

ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".skill")
SKILL_FILE = "skill.md"
#: Largest raw SKILL.md accepted, in bytes (the core's manifest limit).
MAX_SKILL_MD_BYTES = 1024 * 1024
_FRAGMENT = re.compile(r"^sha256=([0-9A-Fa-f]{64})\Z")
_NAME_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


def _path_kind(path: str) -> str | None:
    lowered = unquote(path).lower()
    if lowered.endswith("/" + SKILL_FILE) or lowered == SKILL_FILE:
        return "skill-md"
    if lowered.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    return None


def package_name_for(url_path: str) -> str:
    """A package name from the URL's last path segment without its archive extension."""
    last = unquote(url_path.rstrip("/").rsplit("/", 1)[-1])
    lowered = last.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lowered.endswith(suffix):
            last = last[: -len(suffix)]
            break
    name = _NAME_CHARS.sub("-", last).strip("-.")
    return (name or "url-package")[:100]


class UrlSource(Source):
    """The ``url`` source (see the module docstring).

    :param resolver: async ``(host, port) -> [ip text, …]`` used to vet hosts; ``None`` = the system resolver.
    """

    name = "url"
    description = "archive URLs (.zip, .tar.gz, .tgz, .tar, .skill) and raw SKILL.md files"

    def __init__(self, settings: Settings, resolver: HostResolver | None = None) -> None:
        self.settings = settings
        self.resolver = resolver

    def claims(self, spec: str) -> bool:
        """An http(s) URL ending in an archive suffix or ``SKILL.md`` (``http://`` for admin-listed hosts)."""
        text = spec.strip()
        try:
            parts = urlsplit(text)
        except ValueError:
            return False
        scheme = parts.scheme.lower()
        if scheme not in {"http", "https"} or _path_kind(parts.path) is None:
            return False
        if scheme == "http":
            host = (parts.hostname or "").lower()
            allowed = {h.lower() for h in [*self.settings.url_allow_http_hosts, *self.settings.url_allow_private_hosts]}
            return host in allowed
        return True

    def parse(self, spec: str) -> Ref:
        """Validate the URL text (scheme, host, no userinfo/control characters) and the ``#sha256=`` pin.

        :raises SpecError: not an allowed archive/SKILL.md URL, or a malformed fragment.
        """
        text = spec.strip()
        url, _, fragment = text.partition("#")
        checked = kiroclaw.check_url(url, self.settings)
        kind = _path_kind(urlsplit(url).path)
        if kind is None:
            raise SpecError("the URL must end in .zip, .tar.gz, .tgz, .tar, .skill or SKILL.md")
        extra: dict[str, str] = {"kind": kind}
        if fragment:
            match = _FRAGMENT.match(fragment)
            if not match:
                raise SpecError("the URL fragment must be #sha256=<64 hex digits>")
            extra["sha256"] = match.group(1).lower()
        name = package_name_for(urlsplit(url).path) if kind == "archive" else "skill"
        return Ref(
            source=self.name,
            spec=text,
            locator=checked.url,
            name=name,
            version=None,
            extra=extra,
        )

    async def fetch(self, ref: Ref, staging_dir: Path, context: FetchContext) -> Fetched:
        """Download, verify the pinned sha256 (if any), then extract (archive) or place (SKILL.md).

        :raises SpecError: a redirect to a URL that is not allowed.
        :raises UnsafeContentError: private address, integrity mismatch, or hostile archive content.
        :raises QuotaExceededError: larger than ``MAX_ADDON_SIZE_MB`` (downloaded or unpacked).
        :raises LimitExceededError: timeouts, redirects, member/depth caps.
        :raises SourceError: HTTP or network failure.
        """
        download_dir = kiroclaw.new_subdir(staging_dir, "download")
        target = download_dir / ("SKILL.md" if ref.extra.get("kind") == "skill-md" else "archive")
        context.progress("downloading", urlsplit(ref.locator).hostname)
        pinned_digest = ref.extra.get("sha256")
        result = await context.download(ref.locator, sha256=pinned_digest, dest=target, resolver=self.resolver)
        if ref.extra.get("kind") == "archive":
            fmt = await asyncio.to_thread(kiroclaw.sniff_format, result.path)
            kiroclaw.check_content_type(result.content_type, fmt)
        origin = {"url": ref.locator, "sha256": result.sha256}
        if result.final_url != ref.locator:
            origin["final_url"] = result.final_url
        if ref.extra.get("kind") == "skill-md":
            root = kiroclaw.new_subdir(staging_dir, "skill")
            await asyncio.to_thread(_place_skill_md, result.path, root / "SKILL.md")
            kiroclaw.remove_tree(download_dir)
            return Fetched(root=root, resolved_ref=result.sha256, origin=origin, pinned=bool(pinned_digest))
        # archives keep the strict extraction (links refused, caps on the whole archive); the core's
        # discovery then installs only the skills and recipes it finds in the tree
        context.progress("unpacking", None)
        root = await context.extract(result.path, staging_dir / "tree")
        await asyncio.to_thread(kiroclaw.remove_tree, download_dir)
        return Fetched(root=root, resolved_ref=result.sha256, origin=origin, name=ref.name, pinned=bool(pinned_digest))

    async def latest(self, installed: AddonRecord) -> str | None:
        """Re-download the URL (same guards and caps) and return its sha256 if it differs from the
        installed one; ``None`` when unchanged or pinned with ``#sha256=``."""
        if installed.pinned:
            return None
        ref = self.parse(installed.spec)
        with tempfile.TemporaryDirectory(prefix="kiroclaw-url-") as tmp:
            result = await kiroclaw.download(
                ref.locator,
                Path(tmp) / "probe",
                settings=self.settings,
                max_bytes=self.settings.max_addon_size_bytes,
                resolver=self.resolver,
            )
        return None if result.sha256 == installed.origin.get("sha256") else result.sha256


def _place_skill_md(downloaded: Path, target: Path) -> None:
    """Move a downloaded raw SKILL.md into place after checking it is UTF-8 text of sane size."""
    data = downloaded.read_bytes()
    if len(data) > MAX_SKILL_MD_BYTES:
        raise UnsafeContentError("the SKILL.md is larger than 1 MB")
    if b"\x00" in data:
        raise UnsafeContentError("the download is not a text SKILL.md (it holds binary data)")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeContentError("the SKILL.md is not valid UTF-8") from exc
    downloaded.rename(target)
    target.chmod(0o644)


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    register(UrlSource(settings))
