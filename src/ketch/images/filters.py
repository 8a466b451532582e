"""``/images/json`` and ``/images/prune`` filters, with Docker's semantics."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ketch.errors import InvalidArgument
from ketch.images.model import Image
from ketch.oci.reference import Reference
from ketch.timeutil import parse_rfc3339, parse_timestamp

LIST_FILTERS = frozenset({"dangling", "label", "before", "since", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


def parse_bool_filter(key: str, values: list[str]) -> bool | None:
    if not values:
        return None
    result = None
    for value in values:
        lowered = value.lower()
        if lowered in ("true", "1"):
            current = True
        elif lowered in ("false", "0"):
            current = False
        else:
            raise InvalidArgument(f"invalid filter '{key}=[{value}]'")
        if result is not None and result != current:
            raise InvalidArgument(f"Invalid filter '{key}': conflicting values")
        result = current
    return result


def check_keys(filters: Mapping[str, list[str]], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")


def labels_match(labels: Mapping[str, str], wanted: list[str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` is present."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def labels_exclude(labels: Mapping[str, str], unwanted: list[str]) -> bool:
    """None of ``key`` / ``key=value`` in ``unwanted`` is present."""
    for item in unwanted:
        key, eq, value = item.partition("=")
        if key in labels and (not eq or labels[key] == value):
            return False
    return True


def image_labels(image: Image) -> dict[str, str]:
    labels = (image.config.config or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def _ref_matches(ref: Reference, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(ref.familiar, p) or fnmatch.fnmatchcase(ref.familiar_name, p)
               for p in patterns)


def only_matching_references(image: Image, patterns: list[str]) -> Image:
    """The image with only the tags and digests a ``reference`` filter matches,
    which is what Docker lists for it."""
    return replace(image, tags=[t for t in image.tags if _ref_matches(t, patterns)],
                   digests=[d for d in image.digests if _ref_matches(d, patterns)])


def created_seconds(image: Image) -> int:
    return parse_rfc3339(image.row.created) if image.row.created else 0


@dataclass
class ImagePredicate:
    """A compiled filter set; ``resolve`` turns before/since image refs into images."""

    dangling: bool | None
    labels: list[str]
    not_labels: list[str]
    references: list[str]
    before: int | None
    since: int | None
    until: int | None

    @classmethod
    def compile(
        cls, filters: Mapping[str, list[str]], allowed: frozenset[str],
        resolve: Callable[[str], Image],
    ) -> ImagePredicate:
        check_keys(filters, allowed)
        before = since = None
        if filters.get("before"):
            before = min(created_seconds(resolve(v)) for v in filters["before"])
        if filters.get("since"):
            since = max(created_seconds(resolve(v)) for v in filters["since"])
        until = None
        if filters.get("until"):
            until = min(parse_timestamp(v) for v in filters["until"])
        return cls(
            dangling=parse_bool_filter("dangling", filters.get("dangling", [])),
            labels=filters.get("label", []), not_labels=filters.get("label!", []),
            references=filters.get("reference", []), before=before, since=since, until=until,
        )

    def __call__(self, image: Image) -> bool:
        if self.dangling is not None and image.dangling != self.dangling:
            return False
        labels = image_labels(image)
        if self.labels and not labels_match(labels, self.labels):
            return False
        if self.not_labels and not labels_exclude(labels, self.not_labels):
            return False
        if self.references and only_matching_references(image, self.references).dangling:
            return False
        created = created_seconds(image)
        if self.before is not None and created >= self.before:
            return False
        if self.since is not None and created <= self.since:
            return False
        return not (self.until is not None and created >= self.until)
