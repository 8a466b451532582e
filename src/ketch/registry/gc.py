"""Mark and sweep of blobs no manifest needs.

Mark: in every repository, start from the tagged manifests (or from every
stored manifest unless ``delete_untagged``), and follow config and layer
descriptors, index children, and referrers (manifests whose subject is a
marked manifest, so signatures and SBOMs live as long as their image).
Sweep: delete every blob under ``blobs/`` that was not marked, the
repository links pointing at it, and (with ``delete_untagged``) the
revision links of unmarked manifests.

Run it with the server stopped or in ``--read-only`` mode: a push in flight
uploads blobs before the manifest that marks them exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from ketch.oci.digest import is_digest
from ketch.registry.storage import RegistryStorage, blob_path


@dataclass
class GcReport:
    marked: set[str] = field(default_factory=set)
    deleted_blobs: list[str] = field(default_factory=list)
    deleted_manifests: list[str] = field(default_factory=list)


def _children(content: bytes) -> tuple[list[str], list[str]]:
    """(blob digests, child manifest digests) a manifest refers to."""
    try:
        doc: Any = msgspec.json.decode(content)
    except msgspec.DecodeError:
        return [], []
    if not isinstance(doc, dict):
        return [], []
    blobs: list[str] = []
    manifests: list[str] = []
    for desc in doc.get("manifests") or []:
        if isinstance(desc, dict) and is_digest(str(desc.get("digest"))):
            manifests.append(desc["digest"])
    config = doc.get("config")
    for desc in [config, *(doc.get("layers") or [])]:
        if isinstance(desc, dict) and is_digest(str(desc.get("digest"))):
            blobs.append(desc["digest"])
    return blobs, manifests


def _mark_repository(storage: RegistryStorage, name: str, delete_untagged: bool,
                     marked: set[str]) -> set[str]:
    """Mark what ``name`` needs; returns the manifests of ``name`` that are live."""
    roots = [d for t in storage.tags(name) if (d := storage.resolve(name, t))]
    if not delete_untagged:
        roots += storage.manifest_digests(name)
    live: set[str] = set()
    pending = list(roots)
    while pending:
        digest = pending.pop()
        if digest in live:
            continue
        live.add(digest)
        marked.add(digest)
        stored = storage.get_manifest(name, digest)
        if stored is None:
            continue
        blobs, manifests = _children(stored.content)
        marked.update(blobs)
        pending.extend(manifests)
        pending.extend(r["digest"] for r in storage.referrers(name, digest)
                       if isinstance(r.get("digest"), str))
    return live


def all_blobs(storage: RegistryStorage) -> list[str]:
    driver = storage.driver
    out: list[str] = []
    for alg in driver.list("blobs"):
        for prefix in driver.list(f"blobs/{alg}"):
            out.extend(f"{alg}:{h}" for h in driver.list(f"blobs/{alg}/{prefix}"))
    return out


def collect(storage: RegistryStorage, *, dry_run: bool = False,
            delete_untagged: bool = False) -> GcReport:
    report = GcReport()
    repositories = storage.repositories()
    live_by_repo: dict[str, set[str]] = {}
    for name in repositories:
        live_by_repo[name] = _mark_repository(storage, name, delete_untagged, report.marked)
    if delete_untagged:
        for name in repositories:
            for digest in storage.manifest_digests(name):
                if digest not in live_by_repo[name]:
                    report.deleted_manifests.append(f"{name}@{digest}")
                    if not dry_run:
                        storage.delete_manifest(name, digest)
    for digest in all_blobs(storage):
        if digest in report.marked:
            continue
        report.deleted_blobs.append(digest)
        if not dry_run:
            storage.driver.delete(blob_path(digest).rsplit("/", 1)[0])
    if not dry_run:
        swept = set(report.deleted_blobs)
        for name in repositories:
            for digest in storage.layer_digests(name):
                if digest in swept:
                    storage.unlink_blob(name, digest)
    return report


__all__ = ["GcReport", "all_blobs", "collect"]
