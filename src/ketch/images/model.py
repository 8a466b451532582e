"""What the image service hands to the API layer (snake_case; the API renders Docker's JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ketch.oci.image import ImageConfig
from ketch.oci.reference import Reference
from ketch.store.images import ImageRow


@dataclass(frozen=True)
class Image:
    row: ImageRow
    config: ImageConfig
    tags: list[Reference] = field(default_factory=list)
    digests: list[Reference] = field(default_factory=list)
    last_tag_ns: int = 0

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def dangling(self) -> bool:
        return not self.tags and not self.digests


@dataclass(frozen=True)
class HistoryEntry:
    id: str
    created: int
    created_by: str
    tags: list[str]
    size: int
    comment: str


@dataclass(frozen=True)
class DeleteRecord:
    """One line of ``docker rmi`` output: exactly one of the two is set."""

    untagged: str = ""
    deleted: str = ""


@dataclass(frozen=True)
class PruneReport:
    records: list[DeleteRecord]
    space_reclaimed: int


@dataclass(frozen=True)
class DiskUsage:
    layers_size: int
    images: list[Image]
    shared_size: dict[str, int]
    containers_per_image: dict[str, int]


@dataclass(frozen=True)
class ImageUser:
    container_id: str
    running: bool


class ImageUsers(Protocol):
    """Who uses an image: the container service implements this; until it
    exists, ``NoImageUsers`` stands in."""

    def users_of(self, image_id: str) -> list[ImageUser]: ...


class NoImageUsers:
    def users_of(self, image_id: str) -> list[ImageUser]:
        return []
