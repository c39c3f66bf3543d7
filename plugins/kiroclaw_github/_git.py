"""Run git for the GitHub source: a hardened environment, killable process groups, fetch → archive → extract.

Imported lazily by :mod:`kiroclaw_github` (it pulls in GitPython). Every git command runs through
GitPython's :class:`git.Git` command object, in a new session (its own process group), with:

* an environment that turns off everything a hostile repository or server could use (security catalogue
  §2 "safe recipe"): no system/global config, empty ``HOME``, no prompts, ``GIT_ALLOW_PROTOCOL`` limited to
  the base URL's scheme, config passed as ``GIT_CONFIG_COUNT``/``KEY``/``VALUE`` (``core.symlinks=false``,
  ``core.hooksPath=/dev/null``, ``core.fsmonitor=false``, no submodules, LFS smudge off, fsck on transfer,
  low-speed abort), and ``GIT_DIR`` pinned to our own bare repository;
* a wall-clock deadline (``GIT_TIMEOUT_SECONDS``) and a size watchdog on the git folder; either kills the
  whole process group (git, ``git-remote-http``, ``upload-pack``) with SIGKILL.

The commit is fetched into a bare repository (``--depth=1``, single ref, no tags). Its tree is written by
git's own ``checkout-index`` when its listing passes the extractor's rules unchanged (:mod:`._checkout`:
names, caps, links recorded and never written), and otherwise streamed through ``git archive`` into
:func:`kiroclaw.extract_tar_stream`, the extractor every archive goes through (links, devices, bad names
and the caps are refused there). The bare repository is deleted afterwards, so no ``.git`` is ever
installed.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kiroclaw import ExtractLimits, LimitExceededError, SourceError, extract_tar_stream, remove_tree

log = logging.getLogger("kiroclaw_github")

#: Seconds between checks of the deadline, the size watchdog and cancellation.
POLL_SECONDS = 0.1
_HEX = re.compile(r"^[0-9a-f]{7,64}\Z")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|[\x00-\x08\x0b-\x1f\x7f]")


class Cancelled(Exception):
    """The caller cancelled the operation; the process group was killed."""


@dataclass(frozen=True)
class GitSetup:
    """How to reach one repository.

    :ivar base_url: ``GITHUB_BASE_URL`` without a trailing ``/`` (``https://github.com``, ``file:///srv/git``).
    :ivar org: validated owner; :ivar repo: validated repository name (no ``.git``).
    :ivar token: ``GITHUB_TOKEN`` or ``None``; sent only as an HTTP header scoped to ``base_url``.
    :ivar timeout_seconds: wall-clock budget of the whole operation.
    """

    base_url: str
    org: str
    repo: str
    token: str | None
    timeout_seconds: float

    @property
    def url(self) -> str:
        return f"{self.base_url}/{self.org}/{self.repo}.git"

    @property
    def scheme(self) -> str:
        return urlsplit(self.base_url).scheme.lower()

    @property
    def label(self) -> str:
        return f"{self.org}/{self.repo}"


@dataclass(frozen=True)
class FetchedTree:
    """A fetched and extracted commit: ``commit`` (full SHA), ``is_tag`` when the ref was a tag, the
    extracted ``tree`` folder and its counts."""

    commit: str
    is_tag: bool
    tree: Path
    files: int
    size_bytes: int
    links: tuple[tuple[str, str], ...] = ()


#: ``$GIT_DIR/info/attributes`` for our fetches: every attribute that changes archived bytes is unset.
IGNORE_ATTRIBUTES = "* -text -eol -crlf -filter -ident -working-tree-encoding -export-subst -export-ignore\n"


def build_env(setup: GitSetup, home: Path, git_dir: Path) -> dict[str, str]:
    """The environment of every git command (values override the inherited environment).

    :param home: an empty folder used as ``HOME``/``XDG_CONFIG_HOME`` and template dir.
    :param git_dir: our bare repository (``GIT_DIR``).
    """
    scheme = setup.scheme
    config: list[tuple[str, str]] = [
        ("core.symlinks", "false"),
        ("core.hooksPath", "/dev/null"),
        ("core.fsmonitor", "false"),
        ("core.autocrlf", "false"),
        ("core.askPass", ""),
        ("credential.helper", ""),
        ("submodule.recurse", "false"),
        ("fetch.recurseSubmodules", "false"),
        ("protocol.allow", "never"),
        (f"protocol.{scheme}.allow", "always"),
        ("protocol.ext.allow", "never"),
        ("safe.bareRepository", "explicit"),
        ("transfer.fsckObjects", "true"),
        ("http.lowSpeedLimit", "1000"),
        ("http.lowSpeedTime", "20"),
        ("filter.lfs.process", ""),
        ("filter.lfs.smudge", ""),
        ("filter.lfs.required", "false"),
        ("gc.auto", "0"),
        ("maintenance.auto", "false"),
        ("init.defaultBranch", "main"),
    ]
    if setup.token:
        basic = base64.b64encode(f"x-access-token:{setup.token}".encode()).decode("ascii")
        config.append((f"http.{setup.base_url}/.extraHeader", f"Authorization: Basic {basic}"))
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_SYSTEM": os.devnull,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_PARAMETERS": "",
        "GIT_TEMPLATE_DIR": str(home),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GCM_INTERACTIVE": "never",
        "GIT_ALLOW_PROTOCOL": scheme,
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_LFS_SKIP_SMUDGE": "1",
        "GIT_TRACE_REDACT": "1",
        "GIT_OPTIONAL_LOCKS": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
        "GIT_DIR": str(git_dir),
        "GIT_WORK_TREE": str(home),
        "GIT_INDEX_FILE": str(home / "index"),
        "GIT_OBJECT_DIRECTORY": str(git_dir / "objects"),
        "GIT_ALTERNATE_OBJECT_DIRECTORIES": "",
        "LC_ALL": "C",
        "LANGUAGE": "C",
        "GIT_CONFIG_COUNT": str(len(config)),
    }
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def redact(text: str, token: str | None) -> str:
    """Strip terminal escapes/control characters and any form of ``token`` from git output."""
    clean = _CONTROL.sub("", text)
    if token:
        clean = clean.replace(token, "***")
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
        clean = clean.replace(basic, "***")
    return clean


def _tree_bytes(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=5)
    except (subprocess.TimeoutExpired, ValueError, OSError):  # pragma: no cover - a child escaped the group
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


class GitRunner:
    """Runs git commands for one operation under one deadline.

    :param setup: repository and limits.
    :param work: a folder we own; the bare repository and the empty home are created inside it.
    :param cancel: set from another thread to kill the running command.
    :param max_git_bytes: size watchdog for the bare repository, in bytes.
    """

    def __init__(self, setup: GitSetup, work: Path, cancel: threading.Event, *, max_git_bytes: int) -> None:
        work = Path(os.path.abspath(work))  # git runs in another folder: GIT_DIR must not be relative
        self.setup = setup
        self.cancel = cancel
        self.deadline = time.monotonic() + setup.timeout_seconds
        self.max_git_bytes = max_git_bytes
        self.home = work / ".git-home"
        self.git_dir = work / ".git-fetch"
        self.home.mkdir(mode=0o700)
        self.env = build_env(setup, self.home, self.git_dir)

    def cleanup(self) -> None:
        """Delete the bare repository and the home folder."""
        remove_tree(self.git_dir)
        remove_tree(self.home)

    def _popen(
        self, args: list[str], *, stdin: bool = False, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        import git
        from git.cmd import Git

        Git.check_unsafe_options(options=args, unsafe_options=git.Repo.unsafe_git_clone_options)
        handle = Git(str(self.home)).execute(
            ["git", *args],
            istream=subprocess.PIPE if stdin else None,
            as_process=True,
            env={**self.env, **(env or {})},
            start_new_session=True,
        )
        # GitPython's handle terminates the process when it is garbage-collected: keep it until the next
        # command (by then this one has been waited for).
        self._handle = handle
        proc: subprocess.Popen[bytes] = handle.proc  # type: ignore[assignment]
        return proc

    def _timeout_error(self) -> LimitExceededError:
        return LimitExceededError(
            f"fetching {self.setup.label} took longer than {self.setup.timeout_seconds:g} s; gave up"
        )

    def run(self, args: list[str], *, watch: bool = False) -> tuple[int, str, str]:
        """Run ``git <args>`` to completion; returns (exit code, stdout, stderr) with output redacted.

        :raises LimitExceededError: the deadline passed or the size watchdog fired (group killed).
        :raises Cancelled: :attr:`cancel` was set (group killed).
        """
        code, out, err = self.run_bytes(args, watch=watch)
        return code, redact(out.decode("utf-8", "replace"), self.setup.token), err

    def run_bytes(
        self, args: list[str], *, watch: bool = False, stdin: bytes | None = None, env: dict[str, str] | None = None
    ) -> tuple[int, bytes, str]:
        """Like :meth:`run`, with ``stdin`` fed to git, ``env`` added to the hardened environment and
        stdout returned as bytes (paths in ``-z`` listings are not text); stderr is redacted."""
        proc = self._popen(args, stdin=stdin is not None, env=env)
        feed = stdin  # given once: communicate() keeps feeding it across its timeouts
        while True:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                _kill_group(proc)
                raise self._timeout_error()
            try:
                out, err = proc.communicate(feed, timeout=min(POLL_SECONDS, remaining))
                break
            except subprocess.TimeoutExpired:
                feed = None
                if self.cancel.is_set():
                    _kill_group(proc)
                    raise Cancelled() from None
                if watch and _tree_bytes(self.git_dir) > self.max_git_bytes:
                    _kill_group(proc)
                    raise LimitExceededError(
                        f"{self.setup.label} is larger than {self.max_git_bytes // (1024 * 1024)} MB; gave up"
                    ) from None
        return proc.returncode, out, redact(err.decode("utf-8", "replace"), self.setup.token)

    def check(self, args: list[str], *, watch: bool = False) -> str:
        """Like :meth:`run` but a non-zero exit raises the classified :class:`SourceError`."""
        code, out, err = self.run(args, watch=watch)
        if code != 0:
            raise self.classify(err)
        return out

    def classify(self, stderr: str, ref: str | None = None) -> SourceError:
        """Turn git's stderr into one clear message (the raw text goes to the log only)."""
        text = stderr.lower()
        label = self.setup.label
        log.info("git failed for %s: %s", label, stderr.strip()[-2000:])
        if "couldn't find remote ref" in text or "not our ref" in text or "no such remote ref" in text:
            what = f" {ref!r}" if ref else ""
            return SourceError(f"{label} has no branch, tag or commit{what}", detail=stderr[-2000:])
        if any(
            marker in text
            for marker in (
                "repository not found",
                "not found",
                "does not appear to be a git repository",
                "could not read username",
                "authentication failed",
                "terminal prompts disabled",
                "the requested url returned error: 40",
                "could not read from remote repository",
            )
        ):
            return SourceError(
                f"GitHub repository {label} was not found or is private",
                detail=stderr[-2000:],
                fix="private repositories need GITHUB_TOKEN on the server",
            )
        if "could not resolve host" in text or "failed to connect" in text or "connection refused" in text:
            return SourceError(f"cannot reach the git server for {label}", detail=stderr[-2000:])
        return SourceError(f"git could not fetch {label}", detail=stderr[-2000:])

    # --- operations -------------------------------------------------------------------------------

    def init(self) -> None:
        """Create the bare repository by hand: the minimal layout git recognises (``HEAD``, ``objects/``,
        ``refs/``), with no hooks, no config and no template — and one process fewer than ``git init``."""
        for sub in ("objects/info", "objects/pack", "refs/heads", "refs/tags", "info"):
            (self.git_dir / sub).mkdir(parents=True, exist_ok=True)
        (self.git_dir / "HEAD").write_text("ref: refs/heads/main\n", encoding="ascii")
        # The repository's own .gitattributes must not change the bytes we install: git archive applies
        # working-tree-encoding (a UTF-8 blob served as UTF-16, hiding it from text scanners), filters,
        # ident, eol conversion, export-subst and export-ignore. $GIT_DIR/info/attributes wins over them.
        (self.git_dir / "info" / "attributes").write_text(IGNORE_ATTRIBUTES, encoding="ascii")

    def fetch(self, refspec: str, *, depth: int | None = 1) -> tuple[int, str]:
        """``git fetch`` of one refspec from the repository URL; returns (exit code, stderr)."""
        args = ["fetch", "--quiet", "--no-tags", "--no-recurse-submodules", "--no-auto-gc"]
        if depth is not None:
            args.append(f"--depth={depth}")
        args += [self.setup.url, refspec]
        code, _out, err = self.run(args, watch=True)
        return code, err

    def rev_parse(self, expression: str) -> str | None:
        code, out, _err = self.run(["rev-parse", "--verify", "--quiet", "--end-of-options", expression])
        return out.strip() if code == 0 and out.strip() else None

    def object_type(self, expression: str) -> str | None:
        """``git cat-file -t`` of an object expression (``<commit>:<path>``), or ``None`` if missing."""
        code, out, _err = self.run(["cat-file", "-t", expression])
        return out.strip() if code == 0 else None

    def close_folders(self, commit: str, subpath: str) -> list[str]:
        """Folders next to a missing ``subpath`` whose names are close to its last part (at most three)."""
        import difflib

        parent, _, leaf = subpath.strip("/").rpartition("/")
        code, out, _err = self.run(["ls-tree", "-d", "--name-only", f"{commit}:{parent}" if parent else commit])
        if code != 0:
            return []
        close = difflib.get_close_matches(leaf, out.splitlines(), n=3, cutoff=0.6)
        return [f"{parent}/{name}" if parent else name for name in close]

    def fetch_commit(self, ref: str | None) -> tuple[str, bool]:
        """Fetch ``ref`` (branch, tag, full/short SHA, or ``None`` for the default branch).

        A full SHA is fetched directly (GitHub and protocol v2 servers allow it); a short SHA cannot be
        asked for, so after a failed fetch by name the default branch's and all branches' full history is
        fetched (bounded by the size watchdog and the deadline) and the SHA resolved locally.

        :returns: (full commit SHA, whether the ref was a tag).
        """
        refspec = ref or "HEAD"
        code, err = self.fetch(refspec)
        if code == 0:
            first = (self.git_dir / "FETCH_HEAD").read_text("utf-8", "replace").split("\n", 1)[0]
            is_tag = "\ttag '" in first
            fetched = first.split("\t", 1)[0].strip()
            # A branch or SHA names its commit directly; a tag may be an annotated tag object to peel.
            commit = fetched if not is_tag and _HEX.match(fetched) else self.rev_parse("FETCH_HEAD^{commit}")
            if commit is None:
                raise SourceError(f"{self.setup.label}: {refspec!r} is not a commit")
            return commit, is_tag
        lowered = err.lower()
        missing_ref = "couldn't find remote ref" in lowered or "not our ref" in lowered or "no such" in lowered
        if ref is None or not _HEX.match(ref) or not missing_ref:
            raise self.classify(err, ref)
        code, err = self.fetch("+refs/heads/*:refs/remotes/origin/*", depth=None)
        if code != 0:
            raise self.classify(err, ref)
        commit = self.rev_parse(f"{ref}^{{commit}}")
        if commit is None:
            raise SourceError(f"{self.setup.label} has no commit {ref!r} (or the short SHA is ambiguous)")
        return commit, False

    @contextlib.contextmanager
    def _watched(self, proc: subprocess.Popen[bytes], name: str) -> Iterator[list[str]]:
        """Kill ``proc``'s group when the deadline passes or :attr:`cancel` is set, while the body reads
        its output; yields the list that gets ``"timeout"`` or ``"cancel"`` when that happened."""
        stop = threading.Event()
        fired: list[str] = []

        def watchdog() -> None:
            while not stop.wait(POLL_SECONDS):
                if time.monotonic() >= self.deadline or self.cancel.is_set():
                    fired.append("cancel" if self.cancel.is_set() else "timeout")
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    return

        thread = threading.Thread(target=watchdog, name=name, daemon=True)
        thread.start()
        try:
            yield fired
        finally:
            stop.set()
            thread.join()

    def _finish(self, proc: subprocess.Popen[bytes], fired: list[str]) -> str:
        """Wait for a streamed command; returns its redacted stderr.

        :raises Cancelled: or the timeout error, when the watchdog fired.
        """
        try:
            _out, err = proc.communicate(timeout=max(self.deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise self._timeout_error() from None
        if fired:
            raise Cancelled() if fired[0] == "cancel" else self._timeout_error()
        return redact(err.decode("utf-8", "replace"), self.setup.token)

    def extract(self, treeish: str, dest: Path, limits: ExtractLimits) -> tuple[int, int, tuple[tuple[str, str], ...]]:
        """Stream ``git archive`` of ``treeish`` into the new folder ``dest``; returns (files, bytes, links)."""
        proc = self._popen(["archive", "--format=tar", treeish])
        with self._watched(proc, "git-archive-watchdog") as fired:
            try:
                assert proc.stdout is not None
                result = extract_tar_stream(proc.stdout, dest, limits)
                proc.stdout.read()
            except BaseException:
                _kill_group(proc)
                if fired:
                    raise (Cancelled() if fired[0] == "cancel" else self._timeout_error()) from None
                raise
        err = self._finish(proc, fired)
        if proc.returncode != 0:
            raise self.classify(err)
        return result.files, result.size_bytes, result.links

    def records(self, args: list[str], max_records: int) -> bytes | None:
        """The NUL-terminated records ``git <args>`` prints (``-z`` output), or ``None`` when git fails or
        prints more than ``max_records`` of them (git killed then: a tree that reuses one subtree many times
        lists far more entries than its size suggests, so the listing is counted while it is read)."""
        proc = self._popen(args)
        chunks: list[bytes] = []
        count = 0
        with self._watched(proc, "git-listing-watchdog") as fired:
            assert proc.stdout is not None
            while chunk := proc.stdout.read1(1 << 16):
                count += chunk.count(b"\0")
                if count > max_records:
                    _kill_group(proc)
                    return None
                chunks.append(chunk)
        self._finish(proc, fired)
        return b"".join(chunks) if proc.returncode == 0 else None

    def ls_remote(self, ref: str | None) -> str | None:
        """The commit ``ref`` (branch, tag, or ``None`` for HEAD) points to on the server, or ``None``."""
        pattern = ref or "HEAD"
        out = self.check(["ls-remote", self.setup.url, pattern])
        found: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            found[name.strip()] = sha.strip()
        if ref is None:
            return found.get("HEAD")
        for name in (f"refs/tags/{ref}^{{}}", f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            if name in found:
                return found[name]
        return None


def fetch_tree(
    setup: GitSetup,
    work: Path,
    ref: str | None,
    subpath: str | None,
    limits: ExtractLimits,
    cancel: threading.Event,
    progress: Callable[[str, str | None], None] | None = None,
) -> FetchedTree:
    """Fetch ``ref`` of the repository and extract its tree (or ``subpath`` of it) into ``work/tree``.

    Blocking: run it in a thread. The bare repository is deleted before returning (success or not).

    :raises SourceError: missing/private repository, unknown ref or sub-path, git failure.
    :raises LimitExceededError: deadline or size watchdog (the process group was killed).
    :raises UnsafeContentError: the tree holds links, devices or forbidden names.
    :raises Cancelled: ``cancel`` was set.
    """
    runner = GitRunner(setup, work, cancel, max_git_bytes=2 * limits.max_bytes + 1024 * 1024)
    try:
        runner.init()
        if progress is not None:
            progress("downloading", setup.label)
        commit, is_tag = runner.fetch_commit(ref)
        treeish = commit if not subpath else f"{commit}:{subpath}"
        if subpath and runner.object_type(treeish) != "tree":
            close = runner.close_folders(commit, subpath)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            raise SourceError(f"{setup.label} has no folder {subpath!r} at {ref or 'its default branch'}{hint}")
        if progress is not None:
            progress("unpacking", setup.label)
        from ._checkout import checkout_tree

        checked_out = checkout_tree(runner, treeish, work / "tree", limits)
        files, size, links = checked_out or runner.extract(treeish, work / "tree", limits)
        return FetchedTree(commit=commit, is_tag=is_tag, tree=work / "tree", files=files, size_bytes=size, links=links)
    finally:
        runner.cleanup()


def remote_commit(setup: GitSetup, work: Path, ref: str | None, cancel: threading.Event) -> str | None:
    """``git ls-remote`` through the same hardened environment; blocking."""
    runner = GitRunner(setup, work, cancel, max_git_bytes=16 * 1024 * 1024)
    try:
        runner.init()
        return runner.ls_remote(ref)
    finally:
        runner.cleanup()
