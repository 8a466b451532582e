"""Image references as the Docker CLI parses them on the client side.

The CLI validates ``tag`` targets before sending them, shows repositories by
their familiar name (``busybox`` for ``docker.io/library/busybox``) and splits
``RepoTags`` into REPOSITORY and TAG columns. The grammar and the domain rule
are ``ketch.oci.reference``'s; this module adds the client's error texts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ketch.oci.reference import familiar_name, reference_re, split_domain

_ID_RE = re.compile(r"^[a-f0-9]{64}$")

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
        return familiar_name(self.domain, self.path)

    def familiar_string(self) -> str:
        out = self.familiar_name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out


def _parse(text: str) -> tuple[str, str, str]:
    match = reference_re().match(text)
    if match is None:
        if text == "":
            raise ReferenceError("repository name must have at least one component")
        if reference_re().match(text.lower()) is not None:
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
    domain, remainder = split_domain(text)
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
    domain, path = split_domain(name)
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
