"""Built-in source ``github``: install a skill or plugin package from a git repository on GitHub (or a
GitHub Enterprise / mirror base set with ``GITHUB_BASE_URL``).

Specs it claims (and explicit ``github:<spec>``):

* ``org/repo``, ``org/repo@ref`` — ``ref`` is a branch, a tag, or a full or short commit SHA;
* ``org/repo/sub/path[@ref]`` — install just that folder (one skill or a sub-package);
* ``https://github.com/org/repo[.git]`` and ``https://github.com/org/repo/tree/<ref>[/<path>]`` (also on
  the host of ``GITHUB_BASE_URL``). In ``tree/`` URLs the ref is the first segment after ``tree/``.

Names and refs are validated before any I/O (catalogue case 22–24): ``org`` follows GitHub's user rules
(``[A-Za-z0-9][A-Za-z0-9-]{0,38}``), ``repo`` is ``[A-Za-z0-9._-]{1,100}`` and not ``.``/``..``, and a ref is
``[A-Za-z0-9][A-Za-z0-9._/-]{0,199}`` passing ``git check-ref-format`` rules (no ``..``, ``//``, ``@{``,
``.lock`` components, leading dots or trailing ``/``/``.``). Anything starting with ``-`` or holding ``::``
never gets through. The clone URL is always built as ``{GITHUB_BASE_URL}/{org}/{repo}.git``.

What is installed (see :mod:`kiroclaw_github._git` for how git is run): the commit's tree (or the
sub-path's) is staged with its links recorded, not written, and the core's discovery
(:mod:`kiroclaw.discovery`) picks the skills and recipes: one skill (a root ``SKILL.md``, or a sub-path
to a skill folder) is installed as that skill, named by its frontmatter; anything else as the plugin
package ``org/repo`` in ``.kiro/plugins/org@repo``.

The resolved commit is recorded (``origin["commit"]``); the version is the tag for a tag ref, else the
commit's 7-character short SHA. ``@<sha>`` installs are pinned. ``latest`` runs ``git ls-remote`` for the
recorded ref and returns the new commit when it moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kiroclaw import (
    AddonRecord,
    FetchContext,
    Fetched,
    Ref,
    Settings,
    Source,
    SourceError,
    SpecError,
    hookimpl,
    plugin_settings,
)

ORG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}\Z")
REPO = re.compile(r"^[A-Za-z0-9._-]{1,100}\Z")
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}\Z")
#: A sub-path segment; a leading dot is allowed (``skills/.curated/gh-fix-ci``), ``.``/``..``/``.git`` are not.
SUBPATH_SEGMENT = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9._+-]{0,99}\Z")
FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})\Z")
SHORT_SHA = re.compile(r"^[0-9a-f]{7,39}\Z")
#: Deepest sub-path accepted, in segments.
MAX_SUBPATH_SEGMENTS = 16
_ARCHIVE_SUFFIXES = (".zip", ".tar.gz", ".tgz", ".tar", ".skill", "/skill.md")
_SHORTHAND = re.compile(r"^[^/@:\s]+/[^/\s]")

T = TypeVar("T")


def check_ref(ref: str) -> str:
    """Validate a branch/tag/SHA (the ``git check-ref-format --allow-onelevel`` rules, applied in Python).

    :raises SpecError: with the rule that failed.
    """
    if not REF.match(ref):
        raise SpecError(f"invalid git ref {ref[:80]!r}: use letters, digits, '.', '_', '-', '/'")
    parts = ref.split("/")
    if ".." in ref or "//" in ref or "@{" in ref or ref.endswith(("/", ".")):
        raise SpecError(f"invalid git ref {ref[:80]!r}")
    if any(not p or p.startswith(".") or p.endswith(".lock") for p in parts):
        raise SpecError(f"invalid git ref {ref[:80]!r}")
    return ref


def check_repo(org: str, repo: str) -> tuple[str, str]:
    """Validate ``org``/``repo`` against GitHub's naming rules; strips one ``.git`` suffix.

    :raises SpecError: naming the part that is wrong.
    """
    if repo.endswith(".git"):
        repo = repo[:-4]
    if not ORG.match(org):
        raise SpecError(f"invalid GitHub owner {org[:60]!r}: letters, digits and '-' (max 39), not starting with '-'")
    if not REPO.match(repo) or repo in {".", ".."} or repo.startswith("-"):
        raise SpecError(f"invalid GitHub repository name {repo[:60]!r}: letters, digits, '.', '_', '-'")
    return org, repo


def check_subpath(segments: list[str]) -> str | None:
    """Validate a sub-path inside the repository (``skills/pdf``); ``None`` when empty."""
    parts = [s for s in segments if s != ""]
    if not parts:
        return None
    if len(parts) > MAX_SUBPATH_SEGMENTS:
        raise SpecError("the path inside the repository is too deep")
    for part in parts:
        if part in {".", ".."} or part.lower() == ".git" or not SUBPATH_SEGMENT.match(part):
            raise SpecError(f"invalid path segment {part[:60]!r} in the repository path")
    return "/".join(parts)


class GitHubSource(Source):
    """The ``github`` source (see the module docstring for specs and behaviour)."""

    name = "github"
    description = "GitHub repositories: org/repo[/path][@ref] or https://github.com/org/repo"

    def __init__(self, settings: Settings) -> None:
        from .settings import GitHubSettings

        self.settings = settings
        self.own = plugin_settings(GitHubSettings, settings)
        self.base_url = self.own.base_url.rstrip("/")
        self._base_hosts = {"github.com", "www.github.com"}
        base = urlsplit(self.base_url)
        if base.scheme in {"http", "https"} and base.netloc:
            self._base_hosts.add(base.netloc.lower())

    # --- specs ------------------------------------------------------------------------------

    def _is_github_url(self, spec: str) -> bool:
        try:
            parts = urlsplit(spec)
        except ValueError:
            return False
        return parts.scheme.lower() in {"http", "https"} and parts.netloc.lower() in self._base_hosts

    def claims(self, spec: str) -> bool:
        """Whether a shorthand spec is this source's: a GitHub (or base-host) repository URL, or
        ``org/repo…`` text that is not a path or another URL."""
        text = spec.strip()
        if "://" in text:
            if not self._is_github_url(text):
                return False
            path = urlsplit(text).path.lower().rstrip("/")
            if path.endswith(_ARCHIVE_SUFFIXES) or path.endswith("skill.md"):
                return False
            segments = [s for s in path.split("/") if s]
            return len(segments) == 2 or (len(segments) >= 3 and segments[2] == "tree")
        if text.startswith((".", "/", "~")):
            return False
        return bool(_SHORTHAND.match(text))

    def parse(self, spec: str) -> Ref:
        """Parse ``org/repo[/sub/path][@ref]`` or a repository URL.

        :raises SpecError: not a repository spec, or a bad owner, name, path or ref.
        """
        text = spec.strip()
        if not text:
            raise SpecError("empty GitHub spec: use org/repo")
        if any(ord(c) < 32 or ord(c) == 127 for c in text) or "::" in text or "\\" in text:
            raise SpecError("GitHub specs may not contain control characters, '::' or backslashes")
        ref: str | None
        if "://" in text:
            if not self._is_github_url(text):
                raise SpecError("only https://github.com/org/repo URLs (or the configured GitHub base) are accepted")
            url = urlsplit(text)
            if url.query or url.fragment or "@" in url.netloc:
                raise SpecError("GitHub URLs with a query, fragment or user name are not accepted")
            segments = [s for s in url.path.split("/") if s]
            if len(segments) < 2:
                raise SpecError("a GitHub URL must name a repository: https://github.com/org/repo")
            org, repo = segments[0], segments[1]
            ref = None
            rest: list[str] = []
            if len(segments) > 2:
                if segments[2] != "tree" or len(segments) < 4:
                    raise SpecError("use a repository URL or https://github.com/org/repo/tree/<ref>/<path>")
                ref = segments[3]
                rest = segments[4:]
        else:
            body, at, ref_text = text.rpartition("@")
            if not at:
                body, ref_text = text, ""
            elif not ref_text:
                raise SpecError("empty ref after '@'")
            ref = ref_text or None
            segments = body.split("/")
            if len(segments) < 2:
                raise SpecError("a GitHub spec needs org/repo")
            org, repo = segments[0], segments[1]
            rest = segments[2:]
        if any(part.startswith("-") for part in [org, repo, *(rest or [])]):
            raise SpecError("GitHub names and paths may not start with '-'")
        org, repo = check_repo(org, repo)
        subpath = check_subpath(rest)
        if ref is not None:
            check_ref(ref)
        name = f"{org}/{repo}" + (f"/{subpath}" if subpath else "")
        return Ref(source=self.name, spec=text, locator=f"{org}/{repo}", name=name, version=ref, subpath=subpath)

    # --- fetching ---------------------------------------------------------------------------

    def _setup(self, locator: str) -> Any:
        from ._git import GitSetup

        base = urlsplit(self.base_url)
        if base.scheme not in {"https", "http", "file"}:
            raise SourceError(
                "GitHub installs are not set up on this server",
                detail=f"GITHUB_BASE_URL {self.base_url!r} is not an https://, http:// or file:// URL",
                fix="set GITHUB_BASE_URL to an https://, http:// or file:// URL (or unset it for github.com)",
                server=True,
            )
        org, repo = locator.split("/", 1)
        token = self.own.token.get_secret_value() if self.own.token else None
        return GitSetup(
            base_url=self.base_url,
            org=org,
            repo=repo,
            token=token or None,
            timeout_seconds=self.own.timeout_seconds,
        )

    async def fetch(self, ref: Ref, staging_dir: Path, context: FetchContext) -> Fetched:
        """Fetch the commit into ``staging_dir`` and arrange it (see the module docstring).

        :raises SourceError: missing/private repository, unknown ref or path.
        :raises LimitExceededError: ``GIT_TIMEOUT_SECONDS`` or the size caps.
        :raises UnsafeContentError: links, devices or forbidden names in the tree.
        """
        from ._git import fetch_tree

        setup = self._setup(ref.locator)
        limits = context.tree_limits  # the whole tree; the core installs only what it discovers
        loop = asyncio.get_running_loop()

        def report(stage: str, detail: str | None = None) -> None:
            # Progress callbacks belong to the event loop (the bot edits a message); never call them from git's thread.
            loop.call_soon_threadsafe(context.progress, stage, detail)

        fetched = await _run_cancellable(
            lambda cancel: fetch_tree(setup, staging_dir, ref.version, ref.subpath, limits, cancel, report)
        )
        pinned = ref.version is not None and bool(FULL_SHA.match(ref.version) or SHORT_SHA.match(ref.version))
        pinned = pinned and fetched.commit.startswith(ref.version or "")
        version = ref.version if fetched.is_tag else fetched.commit[:7]
        origin = {
            "repo": ref.locator,
            "commit": fetched.commit,
            "ref": ref.version or "HEAD",
        }
        if ref.subpath:
            origin["path"] = ref.subpath
        # the core finds the skills and recipes (kiroclaw.discovery) and names a single skill after it
        return Fetched(
            root=fetched.tree,
            version=version,
            resolved_ref=fetched.commit,
            origin=origin,
            name=ref.name,
            pinned=pinned,
            links=dict(fetched.links),
        )

    async def latest(self, installed: AddonRecord) -> str | None:
        """The commit the installed ref points to now, if it differs from the recorded one.

        ``None`` when it did not move, or for add-ons pinned to a commit SHA.

        :raises SourceError: the repository or ref is gone.
        """
        if installed.pinned:
            return None
        ref = self.parse(installed.spec)
        if ref.version is not None and FULL_SHA.match(ref.version):
            return None
        import tempfile

        from ._git import remote_commit

        setup = self._setup(ref.locator)
        with tempfile.TemporaryDirectory(prefix="kiroclaw-lsremote-") as tmp:
            commit = await _run_cancellable(lambda cancel: remote_commit(setup, Path(tmp), ref.version, cancel))
        if commit is None:
            if ref.version is not None and SHORT_SHA.match(ref.version):
                return None
            raise SourceError(f"{ref.locator} has no branch or tag {ref.version or 'HEAD'!r} any more")
        recorded = installed.origin.get("commit")
        return None if commit == recorded else commit


async def _run_cancellable(job: Callable[[threading.Event], T]) -> T:
    """Run a blocking git job in a thread; if the awaiting task is cancelled, tell the job (it kills its
    process group) and wait for it to finish before re-raising."""
    cancel = threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(job, cancel))
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        cancel.set()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(task, timeout=10)
        raise


@hookimpl
def register_sources(register: Callable[[Source], None], settings: Settings) -> None:
    register(GitHubSource(settings))
