"""What the engine knows of a layer's compressed forms: diff ID → blob digests.

Pull records the compressed digest a registry served for each layer and the
repository it came from; push records the digest of the gzip it made. With
this, a push first asks the registry for a blob it probably has (HEAD, then a
cross-repository mount from a repository known to hold it) and compresses
only when the registry has none. One small JSON file per diff ID, replaced
atomically, so concurrent operations never see a half-written record.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ketch.oci.digest import hex_of, is_digest


@dataclass
class CompressedForm:
    digest: str
    size: int
    media_type: str
    #: ``host/repository`` names known to hold the blob
    sources: list[str] = field(default_factory=list)


class LayerCache:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, diff_id: str) -> Path:
        return self.root / f"{hex_of(diff_id)}.json"

    def forms(self, diff_id: str) -> list[CompressedForm]:
        if not is_digest(diff_id):
            return []
        try:
            data = json.loads(self._path(diff_id).read_text())
            return [CompressedForm(str(f["digest"]), int(f["size"]), str(f["media_type"]),
                                   [str(s) for s in f.get("sources", [])])
                    for f in data if is_digest(str(f["digest"]))]
        except (OSError, ValueError, KeyError, TypeError):
            return []

    def record(self, diff_id: str, digest: str, size: int, media_type: str,
               source: str | None = None) -> None:
        with self._lock:
            forms = self.forms(diff_id)
            form = next((f for f in forms if f.digest == digest), None)
            if form is None:
                form = CompressedForm(digest, size, media_type)
                forms.append(form)
            if source and source not in form.sources:
                form.sources.append(source)
            payload = json.dumps([f.__dict__ for f in forms]).encode()
            fd, name = tempfile.mkstemp(dir=self.root, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(payload)
            os.replace(name, self._path(diff_id))
