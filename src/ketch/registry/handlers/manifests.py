"""``/v2/<name>/manifests/<reference>``: push, fetch, probe and delete.

A manifest is kept byte for byte as pushed (its digest is over those bytes)
and only after every blob or child manifest it names is in the repository,
so a pulled manifest can always be completed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from ketch.oci import mediatypes
from ketch.oci.digest import algorithm_of, digest_bytes, is_digest
from ketch.registry.errcodes import ErrorCode, RegistryError
from ketch.registry.handlers.base import Registry, Target, require_delete, require_writable
from ketch.registry.names import check_tag, is_tag
from ketch.registry.storage import descriptor_media_type

DOCKER_SCHEMA1 = frozenset({
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
})
_KNOWN = mediatypes.MANIFESTS | mediatypes.INDEXES


def _invalid(message: str, **detail: Any) -> RegistryError:
    return RegistryError(ErrorCode.MANIFEST_INVALID, message, detail=detail or None)


def _descriptor(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _invalid(f"{where}: descriptor must be an object")
    if not isinstance(value.get("mediaType"), str) or not value["mediaType"]:
        raise _invalid(f"{where}: descriptor has no mediaType")
    if not isinstance(value.get("digest"), str) or not is_digest(value["digest"]):
        raise _invalid(f"{where}: descriptor has an invalid digest")
    size = value.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}: descriptor has an invalid size")
    return value


async def _read_body(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise RegistryError(ErrorCode.MANIFEST_TOO_LARGE, detail={"limit": limit})
    chunks: list[bytes] = []
    total = 0
    async for block in request.content.iter_chunked(1 << 16):
        total += len(block)
        if total > limit:
            raise RegistryError(ErrorCode.MANIFEST_TOO_LARGE, detail={"limit": limit})
        chunks.append(block)
    return b"".join(chunks)


def _validate(registry: Registry, name: str, doc: dict[str, Any],
              media_type: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """Check shape and references; returns (subject, referrer descriptor)."""
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    storage = registry.storage
    artifact_type = doc.get("artifactType")
    if media_type in mediatypes.INDEXES:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise _invalid("an index needs a manifests list")
        for i, child in enumerate(children):
            desc = _descriptor(child, f"manifests[{i}]")
            if not storage.has_manifest(name, desc["digest"]):
                raise RegistryError(ErrorCode.MANIFEST_BLOB_UNKNOWN,
                                    detail={"digest": desc["digest"]})
    else:
        config = _descriptor(doc.get("config"), "config")
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise _invalid("a manifest needs a layers list")
        descs = [config] + [_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
        for desc in descs:
            if desc["mediaType"] == mediatypes.DOCKER_FOREIGN_LAYER or (
                    desc.get("urls") and desc is not config):
                continue
            if storage.repo_blob_size(name, desc["digest"]) is None:
                raise RegistryError(ErrorCode.MANIFEST_BLOB_UNKNOWN,
                                    detail={"digest": desc["digest"]})
        if not artifact_type:
            artifact_type = config["mediaType"]
    subject = doc.get("subject")
    if subject is not None:
        subject = _descriptor(subject, "subject")
    referrer: dict[str, Any] = {"mediaType": media_type}
    if isinstance(artifact_type, str) and artifact_type:
        referrer["artifactType"] = artifact_type
    if isinstance(doc.get("annotations"), dict):
        referrer["annotations"] = doc["annotations"]
    return subject, referrer


async def put_manifest(request: web.Request, registry: Registry,
                       target: Target) -> web.StreamResponse:
    require_writable(registry)
    reference = target.ref
    by_digest = is_digest(reference)
    tag = None if by_digest else check_tag(reference)
    body = await _read_body(request, registry.config.max_manifest_bytes)
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise _invalid(f"manifest is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise _invalid("manifest must be a JSON object")
    content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    field = doc.get("mediaType")
    if content_type in DOCKER_SCHEMA1 or field in DOCKER_SCHEMA1:
        raise _invalid("Docker schema1 manifests are not supported")
    if isinstance(field, str) and field and content_type in _KNOWN and field != content_type:
        raise _invalid("mediaType does not match Content-Type",
                       mediaType=field, contentType=content_type)
    media_type = descriptor_media_type(doc, content_type)
    if media_type not in _KNOWN:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    algorithm = algorithm_of(reference) if by_digest else "sha256"
    digest = digest_bytes(body, algorithm)
    if by_digest and digest != reference:
        raise RegistryError(ErrorCode.DIGEST_INVALID,
                            detail={"expected": reference, "actual": digest})
    subject, referrer = _validate(registry, target.name, doc, media_type)
    referrer["size"] = len(body)
    await asyncio.to_thread(registry.storage.put_manifest, target.name, body, media_type,
                            algorithm, tag, subject, referrer)
    headers = {"Location": f"/v2/{target.name}/manifests/{digest}",
               "Docker-Content-Digest": digest, "Content-Length": "0"}
    if subject is not None:
        headers["OCI-Subject"] = subject["digest"]
    return web.Response(status=201, headers=headers)


def _check_reference(reference: str) -> None:
    if not is_digest(reference) and not is_tag(reference):
        if ":" in reference:
            raise RegistryError(ErrorCode.DIGEST_INVALID, detail={"reference": reference})
        raise RegistryError(ErrorCode.TAG_INVALID, detail={"reference": reference})


async def get_manifest(request: web.Request, registry: Registry,
                       target: Target) -> web.StreamResponse:
    _check_reference(target.ref)
    stored = await asyncio.to_thread(registry.storage.get_manifest, target.name, target.ref)
    if stored is None:
        raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": target.ref})
    headers = {"Docker-Content-Digest": stored.digest, "ETag": f'"{stored.digest}"',
               "Content-Type": stored.media_type}
    return web.Response(status=200, body=stored.content, headers=headers)


async def delete_manifest(request: web.Request, registry: Registry,
                          target: Target) -> web.StreamResponse:
    require_delete(registry)
    _check_reference(target.ref)
    if is_digest(target.ref):
        found = await asyncio.to_thread(registry.storage.delete_manifest, target.name,
                                        target.ref)
    else:
        found = registry.storage.delete_tag(target.name, target.ref)
    if not found:
        raise RegistryError(ErrorCode.MANIFEST_UNKNOWN, detail={"reference": target.ref})
    return web.Response(status=202)
