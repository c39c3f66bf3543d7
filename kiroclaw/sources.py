"""The installer-source contract: what a source plugin registers, and the values it exchanges with the core.

A source turns a *spec* (what the user typed after ``/addon install``) into staged files. Everything after
:meth:`Source.fetch` (layout detection, validation, policy hooks, quotas, atomic placement, registry
write) is the core's and identical for every source. A third-party source is one small class::

    class S3Source(kiroclaw.Source):
        name = "s3"
        def parse(self, spec): ...
        async def fetch(self, ref, staging_dir, context): ...

    @kiroclaw.hookimpl
    def register_sources(register, settings):
        register(S3Source(settings))
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .errors import (
    Confirmation,
    ConfirmationChangedError,
    ConfirmationRequired,
    NotSupportedError,
    PermissionDeniedError,
    SpecError,
)

if TYPE_CHECKING:
    from .config import Settings
    from .downloader import DownloadResult, HostResolver
    from .models import AddonRecord
    from .staging import ExtractLimits
    from .workspaces import Scope

#: ``name:rest`` with a source name of lowercase letters, digits, ``-`` and ``_`` (``github:org/repo``).
#: ``https:`` / ``http:`` / ``file:`` are URL schemes, not source names, and are never split off.
_EXPLICIT = re.compile(r"^(?P<source>[a-z][a-z0-9_-]{0,31}):(?!//)(?P<rest>.+)$", re.S)
_URL_SCHEMES = frozenset({"http", "https", "file", "ftp", "ssh", "git"})

#: A progress callback: called with a short stage word (``resolving``, ``downloading``, ``validating``,
#: ``installing``, ``installed``) and optional detail text. Must not block.
ProgressCallback = Callable[[str, str | None], None]


def split_explicit(spec: str) -> tuple[str, str] | None:
    """Split an explicit ``source:rest`` spec; ``None`` when the spec has no source prefix.

    URL schemes (``https://…``, ``file:…``) are not source prefixes.
    """
    match = _EXPLICIT.match(spec.strip())
    if not match or match["source"] in _URL_SCHEMES:
        return None
    return match["source"], match["rest"].strip()


@dataclass(frozen=True)
class Ref:
    """A parsed spec: which source, and what exactly to fetch.

    :ivar source: the source's name.
    :ivar spec: the original spec text (stored in the registry for ``update``).
    :ivar locator: the source-specific part (``org/repo``, a URL, a folder path, a slug).
    :ivar name: the add-on name the source expects (``org/repo``, ``weather-api``); the core may refine
        it from the fetched files (a single skill's ``name``).
    :ivar version: a pinned version, tag, branch or commit, or ``None`` for "latest".
    :ivar subpath: a path inside the fetched tree to install instead of its root, or ``None``.
    :ivar extra: anything else the source wants to carry from ``parse`` to ``fetch`` (str → str).
    """

    source: str
    spec: str
    locator: str
    name: str
    version: str | None = None
    subpath: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


def _no_progress(stage: str, detail: str | None = None) -> None:
    return None


#: A staged whole tree may hold this many times ``MAX_ADDON_FILES`` files (tests, docs, assets beside skills).
FETCH_CAP_FACTOR_FILES = 5
#: A staged whole tree may hold this many times ``MAX_ADDON_SIZE_MB`` bytes.
FETCH_CAP_FACTOR_BYTES = 2


@dataclass(frozen=True)
class FetchContext:
    """Everything the core hands to :meth:`Source.fetch` besides the ref: the sources' toolbox.

    A source needs nothing else from KiroClaw: it extracts with :meth:`extract`, downloads with
    :meth:`download`, checks local paths with :meth:`check_local_path` and asks for confirmation with
    :meth:`confirm`; the caps come ready in :attr:`limits`.

    :ivar settings: the host's core settings (read-only).
    :ivar scope: whose install this is.
    :ivar progress: stage callback (see :data:`ProgressCallback`).
    :ivar max_bytes: size cap for downloads and unpacked files, in bytes (``MAX_ADDON_SIZE_MB``).
    :ivar local_roots: folders on this machine the install may read: ``None`` = any (the CLI, run by the
        operator), a tuple = only inside these (the bot: ``LOCAL_SOURCE_ROOTS``; empty = none).
    :ivar confirmed: ``True`` = the user confirmed whatever is found (CLI ``--yes``); a
        :class:`~kiroclaw.errors.Confirmation` = the user confirmed exactly that; ``False`` = not yet.
    :ivar staging_dir: the empty folder the source stages into (the core sets it; :meth:`extract`
        unpacks below it when no destination is given).
    :ivar work_dir: a scratch folder outside ``staging_dir`` for downloads (removed with the staging
        area); ``None`` = a new folder next to ``staging_dir``.
    :ivar resolver: DNS resolver for :meth:`download`'s address guard (``None`` = the system's).
    """

    settings: Settings
    scope: Scope
    progress: ProgressCallback = field(default=_no_progress)
    max_bytes: int = 50 * 1024 * 1024
    local_roots: tuple[Path, ...] | None = None
    confirmed: bool | Confirmation = False
    staging_dir: Path | None = None
    work_dir: Path | None = None
    resolver: HostResolver | None = None

    @cached_property
    def limits(self) -> ExtractLimits:
        """The extraction caps: ``MAX_ADDON_FILES``, ``MAX_PATH_DEPTH``, ``MAX_PATH_LENGTH`` and
        :attr:`max_bytes`."""
        from .staging import ExtractLimits

        return ExtractLimits.from_settings(self.settings, max_bytes=self.max_bytes)

    @cached_property
    def tree_limits(self) -> ExtractLimits:
        """The caps for staging a whole tree (a repository) of which the core installs only the skills
        and recipes it discovers: ``whole_tree`` (links recorded, not written) and larger file and byte
        caps: :data:`FETCH_CAP_FACTOR_FILES` × ``MAX_ADDON_FILES``, :data:`FETCH_CAP_FACTOR_BYTES` ×
        ``MAX_ADDON_SIZE_MB``); the add-on caps apply to what is placed."""
        from .staging import ExtractLimits

        settings = self.settings
        return ExtractLimits(
            max_files=settings.max_addon_files * FETCH_CAP_FACTOR_FILES,
            max_depth=settings.max_path_depth,
            max_path_chars=settings.max_path_length,
            max_bytes=settings.max_addon_size_bytes * FETCH_CAP_FACTOR_BYTES,
            whole_tree=True,
        )

    @property
    def assume_yes(self) -> bool:
        """Whether the user confirmed anything at all (prefer :meth:`confirm`, which binds it)."""
        return self.confirmed is not False

    def confirm(self, message: str, reasons: list[str], *, resolved: str | None) -> list[str]:
        """Ask for the user's confirmation of ``resolved`` (the exact version/commit about to be fetched).

        :returns: lines to add to ``Fetched.warnings`` when the user already confirmed it.
        :raises ConfirmationRequired: not confirmed yet (carries ``resolved``, so the confirmation binds).
        :raises ConfirmationChangedError: the user confirmed another version/commit than ``resolved``.
        """
        confirmed = self.confirmed
        if confirmed is True:
            return [f"confirmed: {r}" for r in reasons]
        if isinstance(confirmed, Confirmation):
            if confirmed.resolved is not None and confirmed.resolved != resolved:
                raise ConfirmationChangedError()
            return [f"confirmed: {r}" for r in reasons]
        raise ConfirmationRequired(message, reasons=reasons, inspected=Confirmation(resolved=resolved))

    def check_local_path(self, path: Path) -> Path:
        """``path`` resolved (links followed), when :attr:`local_roots` allows reading it.

        :raises PermissionDeniedError: ``path`` is not inside one of :attr:`local_roots`.
        """
        if self.local_roots is None:
            return path
        resolved = path.resolve()
        for root in self.local_roots:
            allowed = Path(root).expanduser().resolve()
            if resolved == allowed or resolved.is_relative_to(allowed):
                return resolved
        raise PermissionDeniedError("this path is not in an allowed local source root")

    def _scratch(self) -> Path:
        if self.work_dir is not None:
            base = self.work_dir
        elif self.staging_dir is not None:
            base = self.staging_dir.parent / "work"
        else:
            raise ValueError("FetchContext has neither work_dir nor staging_dir")
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="dl-", dir=base))

    async def extract(self, archive: Path | IO[bytes], dest: Path | None = None) -> Path:
        """Validate and unpack an archive (zip, tar, tar.gz/.bz2/.xz, sniffed from its bytes; or an
        uncompressed tar *stream* such as ``git archive``'s output) with the shared safe extractor: links,
        devices, escapes, duplicate names and bombs are refused; :attr:`limits` apply.

        :param dest: a folder that does not exist yet; default ``staging_dir/"tree"``.
        :returns: ``dest``, now holding the files.
        :raises UnsafeContentError, LimitExceededError, QuotaExceededError: see :mod:`kiroclaw.archives`.
        """
        from .archives import extract_archive, extract_tar_stream

        if dest is None:
            if self.staging_dir is None:
                raise ValueError("extract() needs dest when the context has no staging_dir")
            dest = self.staging_dir / "tree"
        if isinstance(archive, Path):
            await asyncio.to_thread(extract_archive, archive, dest, self.limits)
        else:
            await asyncio.to_thread(extract_tar_stream, archive, dest, self.limits)
        return dest

    async def download(
        self, url: str, *, sha256: str | None = None, dest: Path | None = None, resolver: HostResolver | None = None
    ) -> DownloadResult:
        """Download ``url`` with the guarded downloader (https only unless admin-listed, every address
        public unless ``URL_ALLOW_PRIVATE_HOSTS``, redirects re-checked, :attr:`max_bytes` enforced on
        the bytes received, ``DOWNLOAD_*_TIMEOUT_SECONDS``).

        :param sha256: the expected digest (64 hex); checked before the file is returned.
        :param dest: a file that does not exist yet; default a new file in the scratch folder.
        :param resolver: DNS resolver for the address guard (default :attr:`resolver`, else the system's).
        :returns: the :class:`~kiroclaw.downloader.DownloadResult` (path, final URL, size, sha256).
        :raises SpecError, UnsafeContentError, QuotaExceededError, LimitExceededError, SourceError: see
            :func:`kiroclaw.downloader.download`; ``UnsafeContentError`` also for a sha256 mismatch.
        """
        from .downloader import download
        from .staging import verify_sha256

        target = dest if dest is not None else self._scratch() / "download"
        result = await download(
            url,
            target,
            settings=self.settings,
            max_bytes=self.max_bytes,
            resolver=resolver or self.resolver,
            progress=self.progress,
        )
        if sha256 is not None:
            await asyncio.to_thread(verify_sha256, result.path, sha256)
        return result


@dataclass(frozen=True)
class Fetched:
    """What a source staged.

    :ivar root: the folder inside ``staging_dir`` holding the fetched tree (a repository, an unpacked
        archive, a copied folder). The core finds the skills and recipes in it (:mod:`kiroclaw.discovery`)
        and places only those.
    :ivar version: the add-on's version (registry version, tag…) or ``None``.
    :ivar resolved_ref: the exact thing fetched (a commit SHA, a registry version, a sha256), or ``None``.
    :ivar origin: details recorded in the registry entry (``url``, ``commit``, ``registry``, ``slug``…).
    :ivar name: the add-on's name if the source knows it better than ``Ref.name`` (``org/repo``).
    :ivar package_dir: folder name under ``.kiro/plugins/`` for a plugin package (``org@repo``); the core
        derives one from ``name`` when ``None``.
    :ivar pinned: the user pinned an exact version/commit (``update`` skips it).
    :ivar warnings: lines to show the user (e.g. registry moderation notes that were confirmed).
    :ivar links: links of the fetched tree that the source recorded instead of writing (path relative to
        ``root`` → target text, POSIX). The core resolves them inside the tree: those inside what is
        installed become copies of their targets, the rest are left out (:mod:`kiroclaw.assemble`).
    """

    root: Path
    version: str | None = None
    resolved_ref: str | None = None
    origin: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    package_dir: str | None = None
    pinned: bool = False
    warnings: tuple[str, ...] = ()
    links: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchHit:
    """One search result. ``downloads``/``stars`` are ``None`` where the source does not know them.

    :ivar risk: what the source's registry says of it: ``"suspicious"`` (flagged; installing asks first),
        ``"blocked"`` (flagged as malicious; it cannot be installed) or ``None`` (nothing known against it).
    :ivar risk_reasons: the registry's reason codes or summary for ``risk``, where it gives them.
    """

    name: str
    source: str
    version: str | None = None
    summary: str = ""
    owner: str | None = None
    downloads: int | None = None
    stars: int | None = None
    spec: str | None = None  # what to type to install it; default: ``name``
    risk: str | None = None
    risk_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class AddonInfo:
    """What a source knows about an add-on it could install (``/addon info`` for not-installed names).

    :ivar versions: known versions, newest first.
    :ivar moderation: registry moderation flags (``isSuspicious``, ``isMalwareBlocked``, ``reasonCodes``…).
    :ivar files: ``[{"path": str, "size": int, "sha256": str}, …]`` where the source lists them.
    :ivar version: the version the other per-version fields describe (``name@version`` asks for one;
        default: the latest).
    :ivar changelog: that version's changelog text; ``published_at``: when it was published (UTC).
    :ivar security: the registry's security-scan status of that version (``clean``, ``suspicious``,
        ``malicious``, ``pending``, ``error``) or ``None``.
    :ivar downloads: / :ivar stars: the registry's counts, ``None`` where it gives none.
    :ivar risk: ``"suspicious"``, ``"blocked"`` or ``None``, from the moderation flags and ``security``
        (see :class:`SearchHit`); ``risk_reasons`` says why.
    """

    name: str
    source: str
    description: str = ""
    latest_version: str | None = None
    versions: tuple[str, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str | None = None
    moderation: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[Mapping[str, Any], ...] = ()
    homepage: str | None = None
    version: str | None = None
    changelog: str = ""
    published_at: datetime | None = None
    security: str | None = None
    downloads: int | None = None
    stars: int | None = None
    risk: str | None = None
    risk_reasons: tuple[str, ...] = ()


class Source:
    """Base class of an installer source. Subclasses set :attr:`name` and implement at least ``parse``
    and ``fetch``; the optional operations raise :class:`~kiroclaw.errors.NotSupportedError` by default,
    which the bot and CLI turn into "the <name> source cannot <op>".

    Methods other than ``parse`` are ``async``; blocking work (git, tar, hashing) goes through
    ``asyncio.to_thread`` or a subprocess so the event loop never stalls.
    """

    #: unique source name (``[a-z][a-z0-9_-]*``); the prefix of explicit specs (``github:org/repo``).
    name: str = ""
    #: one line shown by ``kiroclaw plugins`` and ``/help``.
    description: str = ""

    def claims(self, spec: str) -> bool:
        """Whether a shorthand spec (one without an explicit ``name:`` prefix) is this source's.

        Every source states its own claim, without asking another source; the core picks the one source
        that claims a spec and refuses a spec two sources claim as ambiguous (naming the explicit forms).
        The default claims nothing: the source is reached by ``name:rest`` only.

        :param spec: the spec text, stripped, control characters already refused.
        """
        return False

    def parse(self, spec: str) -> Ref:
        """Parse the spec (without an explicit ``name:`` prefix) into a :class:`Ref`.

        Must validate untrusted text completely before any I/O.

        :raises kiroclaw.errors.SpecError: the spec is malformed for this source.
        """
        raise NotImplementedError

    async def fetch(self, ref: Ref, staging_dir: Path, context: FetchContext) -> Fetched:
        """Put the add-on's files under ``staging_dir`` (an empty folder on the same filesystem as the
        target) and describe what was fetched. Never write outside ``staging_dir``.

        :raises kiroclaw.errors.SourceError: network/remote failure, missing add-on.
        :raises kiroclaw.errors.UnsafeContentError: hostile content (escapes, links, devices).
        :raises kiroclaw.errors.LimitExceededError: size/count/time caps.
        :raises kiroclaw.errors.ConfirmationRequired: from :meth:`FetchContext.confirm`, e.g. a registry's
            "suspicious" flag before anything is downloaded.
        """
        raise NotImplementedError

    async def doctor(self, *, timeout_seconds: float) -> list[tuple[bool, str, str]]:
        """``kiroclaw doctor``'s checks of this source's set-up: is what it talks to reachable and what it
        claims to be (a registry answering its API, a git server), each within ``timeout_seconds``.

        :returns: ``(passed, what, the operator's fix)`` lines; ``[]`` (the default) for nothing to check.
            Never raises for a failed check: a failure is a line.
        """
        return []

    async def search(self, query: str, *, limit: int = 10) -> list[SearchHit]:
        """Search the source; at most ``limit`` hits, best first.

        :raises kiroclaw.errors.NotSupportedError: the source cannot search (the default).
        """
        raise NotSupportedError(f"the {self.name} source cannot search")

    async def info(self, name: str) -> AddonInfo:
        """Describe an add-on the source could install.

        :raises kiroclaw.errors.NotSupportedError: the default.
        :raises kiroclaw.errors.NotFoundError: no such add-on.
        """
        raise NotSupportedError(f"the {self.name} source cannot describe add-ons")

    async def latest(self, installed: AddonRecord) -> str | None:
        """The newest version/commit available for an installed add-on, or ``None`` if it is current.

        The core compares it with ``installed.origin``/``installed.version`` and, if different, re-fetches
        ``installed.spec`` (without the pin) to update.

        :raises kiroclaw.errors.NotSupportedError: the source cannot check for updates (the default).
        :raises kiroclaw.errors.UpdateSkippedError: updating does not apply (reported as ``skipped``).
        """
        raise NotSupportedError(f"the {self.name} source cannot check for updates")

    async def aclose(self) -> None:
        """Release network sessions and caches; called once at host shutdown."""


def require_no_explicit_prefix(spec: str) -> str:
    """Strip whitespace and refuse empty specs; :raises SpecError:."""
    text = spec.strip()
    if not text:
        raise SpecError("empty spec: say what to install, e.g. weather-api or org/repo")
    if len(text) > 2048:
        raise SpecError("spec too long (over 2048 characters)")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise SpecError("spec contains control characters")
    return text
