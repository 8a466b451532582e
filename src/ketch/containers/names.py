"""Container names: Docker's validation rule and generated names.

Generated names are ``adjective_noun`` pairs from our own word lists; like
Docker's, they are easy to say and type, and unique within the engine.
"""

from __future__ import annotations

import re
import secrets

from ketch.errors import InvalidArgument

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

_ADJECTIVES = (
    "amber", "brave", "brisk", "calm", "clever", "cosy", "crisp", "daring", "eager", "fair",
    "fancy", "gentle", "glad", "golden", "happy", "hardy", "humble", "jolly", "keen", "kind",
    "lively", "loyal", "lucid", "mellow", "merry", "modest", "nimble", "noble", "patient",
    "plucky", "polite", "proud", "quick", "quiet", "rapid", "ready", "serene", "sharp", "shiny",
    "silent", "sleepy", "smart", "snappy", "steady", "sturdy", "sunny", "swift", "tender",
    "tidy", "trusty", "upbeat", "vivid", "warm", "wise", "witty", "zesty",
)
_NOUNS = (
    "anchor", "badger", "beacon", "birch", "bolt", "brook", "canyon", "cedar", "comet",
    "coral", "crane", "dune", "ember", "falcon", "fern", "fjord", "garnet", "glacier", "harbor",
    "heron", "island", "jetty", "kestrel", "lagoon", "lantern", "maple", "meadow", "mesa",
    "nebula", "oak", "orbit", "otter", "pebble", "pine", "quartz", "raven", "reef", "ridge",
    "river", "saffron", "schooner", "sparrow", "spruce", "summit", "tern", "thistle", "tide",
    "tundra", "valley", "willow", "wren", "yarrow", "zephyr",
)


def validate_name(name: str) -> str:
    """The name without its leading slash, or InvalidArgument with Docker's text."""
    if not _VALID.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")


def random_name(retry: int = 0) -> str:
    name = f"{secrets.choice(_ADJECTIVES)}_{secrets.choice(_NOUNS)}"
    return f"{name}{secrets.randbelow(10)}" if retry else name
