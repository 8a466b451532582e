"""Typed views of image manifests, indexes and configs.

The bytes of a config or manifest are what gets hashed, so the stores keep
the original bytes; these structs are only for reading fields. Unknown fields
are ignored on decode, and the container ``config`` section stays a plain
mapping so that fields we do not model survive untouched.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ketch.errors import InvalidArgument


class Platform(msgspec.Struct, omit_defaults=True):
    architecture: str = ""
    os: str = ""
    variant: str | None = msgspec.field(default=None)
    os_version: str | None = msgspec.field(default=None, name="os.version")


class Descriptor(msgspec.Struct, rename="camel", omit_defaults=True):
    media_type: str
    digest: str
    size: int
    urls: list[str] | None = None
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    artifact_type: str | None = None


class Manifest(msgspec.Struct, rename="camel", omit_defaults=True):
    schema_version: int
    config: Descriptor
    layers: list[Descriptor]
    media_type: str | None = None
    annotations: dict[str, str] | None = None
    subject: Descriptor | None = None
    artifact_type: str | None = None


class Index(msgspec.Struct, rename="camel", omit_defaults=True):
    schema_version: int
    manifests: list[Descriptor]
    media_type: str | None = None
    annotations: dict[str, str] | None = None


class RootFS(msgspec.Struct):
    type: str = "layers"
    diff_ids: list[str] = msgspec.field(default_factory=list)


class History(msgspec.Struct, omit_defaults=True):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool = False


class ImageConfig(msgspec.Struct, omit_defaults=True):
    """The image configuration blob; its digest is the image ID."""

    architecture: str = ""
    os: str = ""
    rootfs: RootFS = msgspec.field(default_factory=RootFS)
    config: dict[str, Any] | None = None
    created: str | None = None
    author: str | None = None
    history: list[History] = msgspec.field(default_factory=list)
    variant: str | None = None
    os_version: str | None = msgspec.field(default=None, name="os.version")
    comment: str | None = None
    docker_version: str | None = None
    container: str | None = None
    container_config: dict[str, Any] | None = None
    parent: str | None = None


_config_decoder = msgspec.json.Decoder(ImageConfig)
_manifest_decoder = msgspec.json.Decoder(Manifest)
_index_decoder = msgspec.json.Decoder(Index)


def decode_config(raw: bytes) -> ImageConfig:
    try:
        config = _config_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid image config: {exc}") from None
    if config.rootfs.type != "layers":
        raise InvalidArgument(
            f"invalid image config: unsupported rootfs type {config.rootfs.type!r}"
        )
    return config


def decode_manifest(raw: bytes) -> Manifest:
    try:
        return _manifest_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid image manifest: {exc}") from None


def decode_index(raw: bytes) -> Index:
    try:
        return _index_decoder.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidArgument(f"invalid image index: {exc}") from None


def encode(obj: msgspec.Struct) -> bytes:
    return msgspec.json.encode(obj)
