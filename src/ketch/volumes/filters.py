"""``GET /volumes`` and ``POST /volumes/prune`` filters, with Docker's semantics.

* ``name``: the name equals a value, or a value (a regular expression)
  matches somewhere in it;
* ``driver``: the driver is one of the values;
* ``label`` / ``label!``: every ``key`` / ``key=value`` is present (for
  ``label!``: the volume is excluded when all of them are present);
* ``dangling``: ``true``/``1`` only volumes no container references,
  ``false``/``0`` only referenced ones; anything else (or both) is an error;
* ``all`` (prune only, API 1.42+): also prune named volumes, not only the
  anonymous ones.

Error messages are Docker's (``invalid filter 'foo'``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ketch.errors import InvalidArgument
from ketch.volumes.model import ANONYMOUS_LABEL, VolumeRecord

LIST_FILTERS = frozenset({"dangling", "name", "driver", "label"})
PRUNE_FILTERS = frozenset({"label", "label!", "all"})


def check_keys(filters: Mapping[str, Sequence[str]], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise InvalidArgument(f"invalid filter '{key}'")


def _go_list(values: Sequence[str]) -> str:
    return "[" + " ".join(values) + "]"


def dangling_value(values: Sequence[str]) -> bool:
    """Go's ``GetBoolOrDefault`` over the ``dangling`` values."""
    if not values:
        raise InvalidArgument("invalid filter 'dangling'")
    false = "0" in values or "false" in values
    true = "1" in values or "true" in values
    if false == true:
        raise InvalidArgument(f"invalid filter 'dangling={_go_list(values)}'")
    return true


def prune_all(values: Sequence[str]) -> bool:
    """The ``all`` prune filter: one Go boolean."""
    if len(values) > 1:
        raise InvalidArgument(
            f"invalid filter 'all={_go_list(values)}': only one value is expected")
    if not values:
        return False
    value = values[0]
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise InvalidArgument(
        f"invalid filter 'all': strconv.ParseBool: parsing \"{value}\": invalid syntax")


def match_kv_list(wanted: Sequence[str], labels: Mapping[str, str] | None) -> bool:
    """Docker's ``MatchKVList``: every ``key`` / ``key=value`` of *wanted* holds."""
    if not wanted:
        return True
    if not labels:
        return False
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def _name_matches(patterns: Sequence[str], name: str) -> bool:
    if name in patterns:
        return True
    for pattern in patterns:
        try:
            if re.search(pattern, name):
                return True
        except re.error:
            continue
    return False


@dataclass(frozen=True)
class VolumePredicate:
    """A compiled filter set; call it with a volume and its reference count."""

    names: tuple[str, ...] = ()
    drivers: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    not_labels: tuple[str, ...] = ()
    #: None: either; True: only unreferenced volumes; False: only referenced ones
    dangling: bool | None = None
    #: prune: only volumes created without a name
    anonymous_only: bool = False

    @classmethod
    def for_list(cls, filters: Mapping[str, Sequence[str]]) -> VolumePredicate:
        check_keys(filters, LIST_FILTERS)
        dangling = dangling_value(filters["dangling"]) if "dangling" in filters else None
        return cls(names=tuple(filters.get("name", ())), drivers=tuple(filters.get("driver", ())),
                   labels=tuple(filters.get("label", ())), dangling=dangling)

    @classmethod
    def for_prune(cls, filters: Mapping[str, Sequence[str]], api_version_at_least_142: bool = True
                  ) -> VolumePredicate:
        """Prune: unreferenced local volumes without options, further narrowed by
        *filters*. Before API 1.42 every such volume is a candidate (``all``)."""
        everything = prune_all(filters.get("all", ())) or not api_version_at_least_142
        check_keys(filters, PRUNE_FILTERS)
        return cls(labels=tuple(filters.get("label", ())),
                   not_labels=tuple(filters.get("label!", ())), dangling=True,
                   anonymous_only=not everything)

    def __call__(self, volume: VolumeRecord) -> bool:
        if self.drivers and volume.driver not in self.drivers:
            return False
        if self.names and not _name_matches(self.names, volume.name):
            return False
        labels = volume.labels
        if self.anonymous_only and not match_kv_list([ANONYMOUS_LABEL], labels):
            return False
        if not match_kv_list(self.labels, labels):
            return False
        if self.not_labels and match_kv_list(self.not_labels, labels):
            return False
        return self.dangling is None or (not volume.refs) == self.dangling
