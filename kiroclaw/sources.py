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

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NotSupportedError, SpecError

if TYPE_CHECKING:
    from .config import Settings
    from .models import AddonRecord
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


@dataclass(frozen=True)
class FetchContext:
    """What the core hands to :meth:`Source.fetch` besides the ref.

    :ivar settings: the host's settings.
    :ivar scope: whose install this is.
    :ivar progress: stage callback (see :data:`ProgressCallback`).
    :ivar assume_yes: the user confirmed up front (CLI ``--yes``, the bot's confirm button); a source that
        needs confirmation (e.g. a registry's "suspicious" flag) raises
        :class:`~kiroclaw.errors.ConfirmationRequired` when this is ``False``.
    :ivar max_bytes: size cap for downloads and unpacked files, in bytes (``MAX_ADDON_SIZE_MB``).
    :ivar interactive_caller: ``"cli"`` or ``"bot"``: the bot restricts local folders to
        ``LOCAL_SOURCE_ROOTS``.
    """

    settings: Settings
    scope: Scope
    progress: ProgressCallback = field(default=lambda stage, detail=None: None)
    assume_yes: bool = False
    max_bytes: int = 50 * 1024 * 1024
    interactive_caller: str = "cli"


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
    """One search result. ``downloads``/``stars`` are ``None`` where the source does not know them."""

    name: str
    source: str
    version: str | None = None
    summary: str = ""
    owner: str | None = None
    downloads: int | None = None
    stars: int | None = None
    spec: str | None = None  # what to type to install it; default: ``name``


@dataclass(frozen=True)
class AddonInfo:
    """What a source knows about an add-on it could install (``/addon info`` for not-installed names).

    :ivar versions: known versions, newest first.
    :ivar moderation: registry moderation flags (``isSuspicious``, ``isMalwareBlocked``, ``reasonCodes``…).
    :ivar files: ``[{"path": str, "size": int, "sha256": str}, …]`` where the source lists them.
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
        :raises kiroclaw.errors.ConfirmationRequired: needs ``context.assume_yes``.
        """
        raise NotImplementedError

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
