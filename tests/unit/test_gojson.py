from __future__ import annotations

import msgspec
import pytest

from ketch.api.gojson import GoDecoder
from ketch.containers.model import CreateRequest


def test_null_members_are_go_zero_values() -> None:
    body = (b'{"Image": "busybox", "Cmd": null, "Healthcheck": {"Test": ["CMD", "true"], '
            b'"Timeout": null, "Interval": 1000000000}, "HostConfig": {"Memory": null}}')
    request = GoDecoder(CreateRequest).decode(body)
    assert request.image == "busybox"
    assert request.healthcheck is not None
    assert (request.healthcheck.timeout, request.healthcheck.interval) == (0, 1_000_000_000)


def test_wrong_types_are_still_refused() -> None:
    with pytest.raises(msgspec.ValidationError, match=r"Healthcheck\.Timeout"):
        GoDecoder(CreateRequest).decode(b'{"Healthcheck": {"Timeout": "soon"}, "X": null}')
