"""Acquisition toolbox, one import for the core: staging helpers (:mod:`kiroclaw.staging`), safe archive
extraction (:mod:`kiroclaw.archives`, with the zip checks of :mod:`kiroclaw.zipcheck`) and the guarded
HTTP downloader (:mod:`kiroclaw.downloader`).

Sources do not import this module: they use :class:`kiroclaw.FetchContext` (``context.extract``,
``context.download``, ``context.limits``) and the names exported from :mod:`kiroclaw`.
"""

from __future__ import annotations

from .archives import (
    CHUNK_BYTES,
    SKIPPED_SEGMENTS,
    ArchiveFormat,
    ExtractLimits,
    ExtractResult,
    check_content_type,
    check_member_name,
    extract_archive,
    extract_tar_stream,
    sniff_format,
)
from .downloader import (
    MAX_REDIRECTS,
    CheckedUrl,
    DownloadResult,
    HostResolver,
    check_url,
    download,
    ip_literal,
    is_public_address,
    system_resolver,
)
from .staging import CONTROL_PREFIX, new_subdir, parse_sha256, remove_tree, sha256_file, verify_sha256

__all__ = [
    "CHUNK_BYTES",
    "CONTROL_PREFIX",
    "MAX_REDIRECTS",
    "SKIPPED_SEGMENTS",
    "ArchiveFormat",
    "CheckedUrl",
    "DownloadResult",
    "ExtractLimits",
    "ExtractResult",
    "HostResolver",
    "check_content_type",
    "check_member_name",
    "check_url",
    "download",
    "extract_archive",
    "extract_tar_stream",
    "ip_literal",
    "is_public_address",
    "new_subdir",
    "parse_sha256",
    "remove_tree",
    "sha256_file",
    "sniff_format",
    "system_resolver",
    "verify_sha256",
]
