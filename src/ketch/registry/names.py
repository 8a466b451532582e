"""Validation of repository names, tags and digests taken from URLs.

Everything that becomes part of a storage path passes through here first, so
a name can never contain ``..``, an absolute path or an upper-case letter.
"""

from __future__ import annotations

import re

from ketch.oci.digest import is_digest
from ketch.registry.errcodes import ErrorCode, RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
_UUID_RE = re.compile(r"^[a-f0-9-]{36}$")
NAME_MAX = 255


def check_name(name: str) -> str:
    if len(name) > NAME_MAX or not _NAME_RE.match(name):
        raise RegistryError(ErrorCode.NAME_INVALID, detail={"name": name})
    return name


def is_tag(value: str) -> bool:
    return _TAG_RE.match(value) is not None


def check_tag(tag: str) -> str:
    if not is_tag(tag):
        raise RegistryError(ErrorCode.TAG_INVALID, detail={"tag": tag})
    return tag


def check_digest(digest: str) -> str:
    if not is_digest(digest):
        raise RegistryError(ErrorCode.DIGEST_INVALID, "invalid digest", detail={"digest": digest})
    return digest


def check_upload_id(upload_id: str) -> str:
    if not _UUID_RE.match(upload_id):
        raise RegistryError(ErrorCode.BLOB_UPLOAD_UNKNOWN, detail={"uuid": upload_id})
    return upload_id
