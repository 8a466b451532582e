"""Image references, normalised the way Docker normalises them.

``busybox`` means ``docker.io/library/busybox:latest``; ``localhost:5000/x``
keeps its registry; ``name@sha256:...`` pins a digest. The grammar is the
distribution project's reference grammar; the error texts are the ones the
docker CLI users know.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ketch.errors import InvalidArgument

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX_LENGTH = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

#: The whole grammar: groups are name, tag, digest.
REFERENCE_PATTERN = rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$"
_ANCHORED_TAG_RE = re.compile(rf"^{_TAG}$")
_ANCHORED_ID_RE = re.compile(r"^[a-f0-9]{64}$")


def familiar_name(domain: str, path: str) -> str:
    """The short name Docker shows: ``busybox``, ``user/app``, ``localhost:5000/x``."""
    if domain != DEFAULT_DOMAIN:
        return f"{domain}/{path}"
    if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX):]:
        return path[len(OFFICIAL_PREFIX):]
    return path


@dataclass(frozen=True)
class Reference:
    """A fully qualified reference: ``domain/path[:tag][@digest]``."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """Repository name with its domain: ``docker.io/library/busybox``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        return familiar_name(self.domain, self.path)

    def _suffix(self) -> str:
        out = ""
        if self.tag is not None:
            out += f":{self.tag}"
        if self.digest is not None:
            out += f"@{self.digest}"
        return out

    def __str__(self) -> str:
        return self.name + self._suffix()

    @property
    def familiar(self) -> str:
        return self.familiar_name + self._suffix()

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def repository(self) -> Reference:
        return Reference(self.domain, self.path)


@functools.cache
def reference_re() -> re.Pattern[str]:
    """Compiled on first use: the CLI imports this module on light paths."""
    return re.compile(REFERENCE_PATTERN)


def split_domain(name: str) -> tuple[str, str]:
    """Docker's rule for where the registry ends: (domain, path), normalised."""
    slash = name.find("/")
    first = name[:slash]
    if slash == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[slash + 1:]
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse_normalized(value: str) -> Reference:
    """Parse a user-given reference the way ``docker`` does (no default tag added)."""
    if _ANCHORED_ID_RE.match(value):
        raise InvalidArgument(
            f"invalid repository name ({value}), cannot specify 64-byte hexadecimal strings"
        )
    # Split off tag and digest before domain detection so "host:5000/x" stays intact.
    digest = None
    rest = value
    if "@" in rest:
        rest, digest = rest.split("@", 1)
    tag = None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        rest, tag = rest[:colon], rest[colon + 1:]
    domain, path = split_domain(rest)
    if path.lower() != path:
        raise InvalidArgument(
            f"invalid reference format: repository name ({path}) must be lowercase"
        )
    full = f"{domain}/{path}"
    candidate = full + (f":{tag}" if tag is not None else "") + (f"@{digest}" if digest else "")
    match = reference_re().match(candidate)
    if match is None or not value:
        raise InvalidArgument("invalid reference format")
    if len(full) > NAME_MAX_LENGTH:
        raise InvalidArgument("invalid reference format: repository name is too long")
    return Reference(domain, path, tag, digest)


def parse_with_default_tag(value: str) -> Reference:
    """Parse and add ``:latest`` when neither tag nor digest is given."""
    ref = parse_normalized(value)
    if ref.tag is None and ref.digest is None:
        return ref.with_tag(DEFAULT_TAG)
    return ref


def validate_tag(tag: str) -> str:
    if not _ANCHORED_TAG_RE.match(tag):
        raise InvalidArgument(f"invalid tag format: {tag!r}")
    return tag


def repo_tag_reference(repo: str, tag: str) -> Reference | None:
    """moby's ``RepoTagReference`` for commit and import: no repo, no name;
    a digest is refused; a tag defaults to ``latest``."""
    if not repo:
        return None
    ref = parse_normalized(repo)
    if ref.digest is not None:
        raise InvalidArgument("cannot import digest reference")
    if tag:
        return ref.with_tag(validate_tag(tag))
    return ref if ref.tag else ref.with_tag("latest")


def looks_like_id_prefix(value: str) -> bool:
    """True for strings that may be (a prefix of) an image ID, with or without sha256:."""
    hex_part = value[7:] if value.startswith("sha256:") else value
    return 0 < len(hex_part) <= 64 and all(c in "0123456789abcdef" for c in hex_part)
