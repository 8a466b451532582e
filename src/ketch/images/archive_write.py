"""Writing image archives for ``docker save``.

The layout is the one Docker 25 and later write: an OCI image layout
(``oci-layout``, ``index.json``, ``blobs/sha256/...``) that also carries a
``manifest.json``, so both older Dockers (which read ``manifest.json``) and
OCI tools load it. Layers are the uncompressed tars exactly as they were
pulled, loaded or committed (from a blob, or rebuilt from the unpacked
files), so a saved image keeps its diff IDs and therefore its image ID.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from ketch.content import ContentStore
from ketch.oci import mediatypes
from ketch.oci.digest import digest_bytes
from ketch.oci.reference import Reference
from ketch.timeutil import parse_rfc3339


@dataclass(frozen=True)
class SaveItem:
    image_id: str
    diff_ids: list[str]
    created: str
    tags: list[Reference]


#: Opens a layer's uncompressed tar by diff ID: the stream and its length.
LayerTarOpener = Callable[[str], tuple[BinaryIO, int]]


def write_archive(out: IO[bytes], items: list[SaveItem], content: ContentStore,
                  open_layer: LayerTarOpener) -> None:
    written: set[str] = set()
    layer_sizes: dict[str, int] = {}
    manifest_json: list[dict[str, Any]] = []
    index_entries: list[dict[str, Any]] = []
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for item in items:
            mtime = parse_rfc3339(item.created) if item.created else 0
            layer_descriptors = []
            for diff_id in item.diff_ids:
                if diff_id not in written:
                    source, size = open_layer(diff_id)
                    with source:
                        _add_stream(tar, diff_id, source, size, mtime)
                    layer_sizes[diff_id] = size
                    written.add(diff_id)
                layer_descriptors.append({
                    "mediaType": mediatypes.OCI_LAYER, "digest": diff_id,
                    "size": layer_sizes[diff_id],
                })
            if item.image_id not in written:
                with content.open(item.image_id) as config:
                    _add_stream(tar, item.image_id, config, content.size(item.image_id), mtime)
                written.add(item.image_id)
            manifest = _json({
                "schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
                "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": item.image_id,
                           "size": content.size(item.image_id)},
                "layers": layer_descriptors,
            })
            manifest_digest = digest_bytes(manifest)
            if manifest_digest not in written:
                _add_bytes(tar, _blob_path(manifest_digest), manifest, mtime)
                written.add(manifest_digest)
            descriptor = {"mediaType": mediatypes.OCI_MANIFEST, "digest": manifest_digest,
                          "size": len(manifest)}
            tags: list[Reference | None] = list(item.tags) or [None]
            for tag in tags:
                entry: dict[str, Any] = dict(descriptor)
                if tag is not None:
                    entry["annotations"] = {
                        "io.containerd.image.name": str(tag),
                        "org.opencontainers.image.ref.name": tag.tag or "",
                    }
                index_entries.append(entry)
            manifest_json.append({
                "Config": _blob_path(item.image_id),
                "RepoTags": [t.familiar for t in item.tags] or None,
                "Layers": [_blob_path(d) for d in item.diff_ids],
            })
        _add_bytes(tar, "index.json", _json({
            "schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": index_entries,
        }), 0)
        _add_bytes(tar, "manifest.json", _json(manifest_json), 0)
        _add_bytes(tar, "oci-layout", _json({"imageLayoutVersion": "1.0.0"}), 0)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _blob_path(digest: str) -> str:
    return "blobs/" + digest.replace(":", "/", 1)


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    info.mtime = mtime
    tar.addfile(info, io.BytesIO(data))


def _add_stream(tar: tarfile.TarFile, digest: str, source: IO[bytes], size: int,
                mtime: int) -> None:
    info = tarfile.TarInfo(_blob_path(digest))
    info.size = size
    info.mode = 0o444
    info.mtime = mtime
    tar.addfile(info, source)
