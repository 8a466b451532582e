"""Reading image archives: what ``docker load`` accepts.

Three layouts are understood, tried in this order:

* docker-archive: ``manifest.json`` lists each image's config, layers and
  tags (written by every Docker since 1.10, and with blobs/ paths since 25);
* OCI image layout: ``oci-layout`` + ``index.json`` + ``blobs/<alg>/<hex>``;
* the legacy (pre-1.10) layout: ``repositories`` + ``<v1-id>/json`` and
  ``<v1-id>/layer.tar``; its v1 JSON is turned into an image config the way
  Docker does it, so the image gets the ID Docker would give it.

The archive is never extracted: members are read in place from the spooled
tar (symlinks between members, as old ``docker save`` writes, are followed
inside the archive only), so no entry name can reach the filesystem.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from ketch.errors import InvalidArgument
from ketch.layers.compression import open_decompressed
from ketch.oci import mediatypes
from ketch.oci.digest import digest_bytes, is_digest, new_hasher
from ketch.oci.image import Descriptor, decode_index, decode_manifest

MAX_JSON_MEMBER = 16 << 20
MAX_SYMLINK_HOPS = 16
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class ArchiveImage:
    """One image found in an archive."""

    config: bytes
    layers: list[str]  # member names, content possibly compressed
    repo_tags: list[str] = field(default_factory=list)


class ImageArchive:
    def __init__(self, path: Path) -> None:
        try:
            self._tar = tarfile.open(path, "r:")
            self._members = {_clean(m.name): m for m in self._tar.getmembers()}
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidArgument(f"invalid image archive: {_describe(exc)}") from None

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> ImageArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- members ------------------------------------------------------------------
    def _member(self, name: str) -> tarfile.TarInfo:
        name = _clean(name)
        for _ in range(MAX_SYMLINK_HOPS):
            member = self._members.get(name)
            if member is None:
                raise InvalidArgument(f"invalid image archive: {name} is missing")
            if member.issym():
                name = _clean(posixpath.join(posixpath.dirname(name), member.linkname))
            elif member.islnk():
                name = _clean(member.linkname)
            elif member.isfile():
                return member
            else:
                raise InvalidArgument(f"invalid image archive: {name} is not a file")
        raise InvalidArgument(f"invalid image archive: too many links at {name}")

    def has(self, name: str) -> bool:
        return _clean(name) in self._members

    def read(self, name: str) -> bytes:
        member = self._member(name)
        if member.size > MAX_JSON_MEMBER:
            raise InvalidArgument(f"invalid image archive: {name} is too large")
        return self._extract(member).read()

    def open_layer(self, name: str) -> BinaryIO:
        """The uncompressed content of a layer member."""
        return open_decompressed(self._extract(self._member(name)))

    def _extract(self, member: tarfile.TarInfo) -> IO[bytes]:
        stream = self._tar.extractfile(member)
        if stream is None:
            raise InvalidArgument(f"invalid image archive: cannot read {member.name}")
        return stream

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name))
        except ValueError as exc:
            raise InvalidArgument(f"invalid image archive: {name}: {exc}") from None

    # -- formats ------------------------------------------------------------------
    def images(self) -> list[ArchiveImage]:
        if self.has("manifest.json"):
            return list(self._docker_archive())
        if self.has("index.json") and self.has("oci-layout"):
            return list(self._oci_layout())
        if self.has("repositories"):
            return list(self._legacy())
        raise InvalidArgument(
            "invalid image archive: no manifest.json, OCI index.json or repositories file"
        )

    def _docker_archive(self) -> Iterator[ArchiveImage]:
        manifest = self.read_json("manifest.json")
        if not isinstance(manifest, list):
            raise InvalidArgument("invalid image archive: manifest.json is not a list")
        for entry in manifest:
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
                raise InvalidArgument("invalid image archive: manifest.json entry without Config")
            layers = entry.get("Layers") or []
            tags = entry.get("RepoTags") or []
            if not all(isinstance(x, str) for x in [*layers, *tags]):
                raise InvalidArgument("invalid image archive: bad Layers or RepoTags")
            yield ArchiveImage(self.read(entry["Config"]), list(layers), list(tags))

    def _oci_layout(self) -> Iterator[ArchiveImage]:
        index = decode_index(self.read("index.json"))
        for descriptor in index.manifests:
            yield from self._oci_descriptor(descriptor, _descriptor_name(descriptor))

    def _oci_descriptor(self, descriptor: Descriptor, name: str | None) -> Iterator[ArchiveImage]:
        raw = self._blob(descriptor.digest)
        if descriptor.media_type in mediatypes.INDEXES:
            nested = decode_index(raw)
            chosen = [d for d in nested.manifests if _runs_here(d)]
            for child in chosen[:1]:
                yield from self._oci_descriptor(child, name)
            return
        if descriptor.media_type not in mediatypes.MANIFESTS:
            return  # attestations and other artifacts are not images
        manifest = decode_manifest(raw)
        layers = [self._blob_name(layer.digest) for layer in manifest.layers]
        yield ArchiveImage(self._blob(manifest.config.digest), layers, [name] if name else [])

    def _blob_name(self, digest: str) -> str:
        if not is_digest(digest):
            raise InvalidArgument(f"invalid image archive: bad digest {digest!r}")
        algorithm, hex_part = digest.split(":", 1)
        return f"blobs/{algorithm}/{hex_part}"

    def _blob(self, digest: str) -> bytes:
        raw = self.read(self._blob_name(digest))
        if digest_bytes(raw, digest.split(":", 1)[0]) != digest:
            raise InvalidArgument(f"invalid image archive: blob {digest} does not match its digest")
        return raw

    def _legacy(self) -> Iterator[ArchiveImage]:
        repositories = self.read_json("repositories")
        if not isinstance(repositories, dict):
            raise InvalidArgument("invalid image archive: repositories is not an object")
        tags_by_top: dict[str, list[str]] = {}
        for repo, tags in repositories.items():
            for tag, v1_id in (tags or {}).items():
                tags_by_top.setdefault(str(v1_id), []).append(f"{repo}:{tag}")
        for top, tags in tags_by_top.items():
            yield self._legacy_image(top, tags)

    def _legacy_image(self, top: str, tags: list[str]) -> ArchiveImage:
        chain: list[tuple[str, dict[str, Any]]] = []
        current: str | None = top
        while current:
            if not all(c in "0123456789abcdef" for c in current) or len(chain) > 1000:
                raise InvalidArgument(f"invalid image archive: bad layer id {current!r}")
            v1 = self.read_json(f"{current}/json")
            chain.append((current, v1))
            current = v1.get("parent") or None
        chain.reverse()
        diff_ids, history = [], []
        for v1_id, v1 in chain:
            diff_ids.append(self._diff_id(f"{v1_id}/layer.tar"))
            history.append(_v1_history(v1))
        config = _config_from_v1(self.read(f"{top}/json"), diff_ids, history)
        return ArchiveImage(config, [f"{v1_id}/layer.tar" for v1_id, _ in chain], tags)

    def _diff_id(self, name: str) -> str:
        hasher = new_hasher("sha256")
        with self.open_layer(name) as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
        return f"sha256:{hasher.hexdigest()}"


def _clean(name: str) -> str:
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    return cleaned


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return "unexpected EOF" if isinstance(exc, EOFError) or "unexpected end" in text else text


def _descriptor_name(descriptor: Descriptor) -> str | None:
    annotations = descriptor.annotations or {}
    full = annotations.get(ANNOTATION_IMAGE_NAME)
    if full:
        return full
    ref_name = annotations.get(ANNOTATION_REF_NAME)
    # A bare tag ("latest") names no repository; a full reference does.
    if ref_name and ("/" in ref_name or ":" in ref_name):
        return ref_name
    return None


def _runs_here(descriptor: Descriptor) -> bool:
    platform = descriptor.platform
    return platform is None or (platform.os == "linux" and platform.architecture == "amd64")


def _v1_history(v1: dict[str, Any]) -> dict[str, Any]:
    cmd = (v1.get("container_config") or {}).get("Cmd") or []
    entry: dict[str, Any] = {}
    if v1.get("created"):
        entry["created"] = v1["created"]
    if v1.get("author"):
        entry["author"] = v1["author"]
    if cmd:
        entry["created_by"] = " ".join(str(part) for part in cmd)
    if v1.get("comment"):
        entry["comment"] = v1["comment"]
    return entry


def _config_from_v1(raw_top: bytes, diff_ids: list[str], history: list[dict[str, Any]]) -> bytes:
    """Docker's conversion: the top v1 JSON without its v1-only keys, plus
    rootfs and history, as Go writes a map: top-level keys sorted, compact."""
    try:
        top = json.loads(raw_top)
    except ValueError as exc:
        raise InvalidArgument(f"invalid image archive: bad v1 json: {exc}") from None
    for key in ("id", "parent", "Size", "parent_id", "layer_id", "throwaway"):
        top.pop(key, None)
    top["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    top["history"] = history
    # Go marshals the top-level map with sorted keys and nested raw values as they were.
    ordered = {key: top[key] for key in sorted(top)}
    text = json.dumps(ordered, separators=(",", ":"), ensure_ascii=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode()
