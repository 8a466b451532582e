"""Engine API versions: what we accept and how versions compare."""

from __future__ import annotations

from ketch.errors import InvalidArgument

MIN_API_VERSION = "1.24"
API_VERSION = "1.50"


def parse_version(value: str) -> tuple[int, int]:
    major, _, minor = value.partition(".")
    try:
        return int(major), int(minor or 0)
    except ValueError:
        raise InvalidArgument(f"invalid API version {value!r}") from None


def check_version(value: str) -> str:
    version = parse_version(value)
    if version < parse_version(MIN_API_VERSION):
        raise InvalidArgument(
            f"client version {value} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if version > parse_version(API_VERSION):
        raise InvalidArgument(
            f"client version {value} is too new. Maximum supported API version is {API_VERSION}"
        )
    return value


def at_least(request_version: str, wanted: str) -> bool:
    return parse_version(request_version) >= parse_version(wanted)
