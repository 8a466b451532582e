"""Image references as the Docker CLI parses them on the client side.

The CLI validates ``tag`` targets before sending them, shows repositories by
their familiar name (``busybox`` for ``docker.io/library/busybox``) and splits
``RepoTags`` into REPOSITORY and TAG columns. This module does only that; the
daemon keeps its own full reference handling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
_LEGACY_DOMAIN = "index.docker.io"
_OFFICIAL_PREFIX = "library/"

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = f"{_DOMAIN_COMPONENT}(?:\\.{_DOMAIN_COMPONENT})*"
_HOST = f"(?:{_DOMAIN_NAME}|{_IPV6})"
_DOMAIN = f"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_NAME = f"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_REFERENCE_PATTERN = f"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$"
_ID_RE = re.compile(r"^[a-f0-9]{64}$")
_compiled: list[re.Pattern[str]] = []


def _reference_re() -> re.Pattern[str]:
    """The reference grammar, compiled on first use (it is costly to compile)."""
    if not _compiled:
        _compiled.append(re.compile(_REFERENCE_PATTERN))
    return _compiled[0]

NAME_TOTAL_LENGTH_MAX = 255


class ReferenceError(ValueError):
    """A malformed reference; the message is the Docker CLI's."""


@dataclass(frozen=True)
class Reference:
    """A normalized name with an optional tag and digest."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        """The full repository name (``docker.io/library/busybox``)."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short name users type (``busybox``, ``foo/bar``, ``localhost:5000/x``)."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(_OFFICIAL_PREFIX) and "/" not in path[len(_OFFICIAL_PREFIX):]:
            return path[len(_OFFICIAL_PREFIX):]
        return path

    def familiar_string(self) -> str:
        out = self.familiar_name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def _split_domain(name: str) -> tuple[str, str]:
    i = name.find("/")
    first = name[:i]
    if i == -1 or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, name[i + 1:]
    if domain == _LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = _OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse(text: str) -> tuple[str, str, str]:
    match = _reference_re().match(text)
    if match is None:
        if text == "":
            raise ReferenceError("repository name must have at least one component")
        if _reference_re().match(text.lower()) is not None:
            raise ReferenceError("repository name must be lowercase")
        raise ReferenceError("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise ReferenceError(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    return name, tag, digest


def parse_normalized_named(text: str) -> Reference:
    """``reference.ParseNormalizedNamed``: ``busybox`` -> docker.io/library/busybox."""
    if _ID_RE.match(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    tag_sep = remainder.find(":")
    remote = remainder[:tag_sep] if tag_sep > -1 else remainder
    if remote.lower() != remote:
        raise ReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    name, tag, digest = _parse(domain + "/" + remainder)
    dom, _, path = name.partition("/")
    return Reference(dom, path, tag, digest)


def split_normalized(text: str) -> Reference:
    """A reference the daemon produced (``RepoTags``/``RepoDigests``), split without
    validating: the daemon only stores valid names, and listing stays fast."""
    name, at, digest = text.partition("@")
    tag = ""
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1:]
    domain, path = _split_domain(name)
    return Reference(domain, path, tag, digest if at else "")


def parse_any_reference(text: str) -> Reference | None:
    """``reference.ParseAnyReference``: a bare 64-hex ID is accepted (returns None)."""
    if _ID_RE.match(text):
        return None
    return parse_normalized_named(text)


def with_default_tag(ref: Reference) -> Reference:
    """``reference.TagNameOnly``: add ``latest`` when there is neither tag nor digest."""
    if not ref.tag and not ref.digest:
        return Reference(ref.domain, ref.path, "latest", "")
    return ref
