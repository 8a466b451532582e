"""``GET /networks`` and ``POST /networks/prune`` filters, with Docker's rules:
``name`` and ``id`` match as unanchored regular expressions (or exactly),
``driver`` and ``scope`` exactly, ``label`` as ``key`` or ``key=value``,
``type`` is ``builtin`` or ``custom``, ``dangling`` selects networks without
containers (never the predefined ones), ``until`` (prune) a creation time."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ketch.errors import InvalidArgument
from ketch.networks.model import Network
from ketch.timeutil import parse_timestamp_ns

LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")
PRUNE_FILTERS = ("label", "label!", "until")


def _regex_match(values: list[str], text: str) -> bool:
    for value in values:
        if value == text:
            return True
        try:
            if re.search(value, text):
                return True
        except re.error:
            continue
    return False


def _label_match(values: list[str], labels: dict[str, str]) -> bool:
    """Every value must match (Docker's MatchKVList)."""
    for value in values:
        key, sep, want = value.partition("=")
        if key not in labels or (sep and labels[key] != want):
            return False
    return True


@dataclass
class NetworkFilter:
    args: dict[str, list[str]]
    dangling: bool | None = None
    until_ns: int | None = None
    id_matches_name: bool = False

    def matches(self, net: Network, in_use: Callable[[Network], bool]) -> bool:
        a = self.args
        if "driver" in a and net.driver not in a["driver"]:
            return False
        if "name" in a and not _regex_match(a["name"], net.name):
            return False
        if "id" in a and not _regex_match(a["id"], net.id) and not (
                self.id_matches_name and _regex_match(a["id"], net.name)):
            return False
        if "label" in a and not _label_match(a["label"], net.labels):
            return False
        if "label!" in a and _label_match(a["label!"], net.labels):
            return False
        if "scope" in a and net.scope not in a["scope"]:
            return False
        if self.dangling is not None:
            used = net.predefined or in_use(net)
            if used == self.dangling:
                return False
        if "type" in a:
            builtin = net.predefined
            first = a["type"][0]
            if (first == "builtin") != builtin:
                return False
        return not (self.until_ns is not None and net.created_ns > self.until_ns)


def make_filter(args: dict[str, list[str]], *, prune: bool, now_ns: int) -> NetworkFilter:
    accepted = PRUNE_FILTERS if prune else LIST_FILTERS
    for key in args:
        if key not in accepted:
            raise InvalidArgument(f"invalid filter '{key}'")
    flt = NetworkFilter(args)
    if prune:
        flt.dangling = True
    values = args.get("dangling")
    if values:
        if len(values) > 1:
            raise InvalidArgument('got more than one value for filter key "dangling"')
        if values[0] in ("1", "true"):
            flt.dangling = True
        elif values[0] in ("0", "false"):
            flt.dangling = False
        else:
            raise InvalidArgument("invalid value for filter 'dangling', must be \"true\" "
                                  "(or \"1\"), or \"false\" (or \"0\")")
    for value in args.get("type", []):
        if value not in ("builtin", "custom"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'")
    until = args.get("until")
    if until:
        if len(until) > 1:
            raise InvalidArgument("more than one until filter specified")
        flt.until_ns = parse_timestamp_ns(until[0], now_ns / 1e9)
    return flt
