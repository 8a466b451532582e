from __future__ import annotations

import pytest

from ketch.errors import InvalidArgument
from ketch.oci.reference import looks_like_id_prefix, parse_normalized, parse_with_default_tag


@pytest.mark.parametrize("given, full, familiar", [
    ("busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("docker.io/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
    ("user/app:v1", "docker.io/user/app:v1", "user/app:v1"),
    ("user/team/app", "docker.io/user/team/app:latest", "user/team/app:latest"),
    ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
    ("localhost:5000/app:1", "localhost:5000/app:1", "localhost:5000/app:1"),
    ("quay.io/org/app", "quay.io/org/app:latest", "quay.io/org/app:latest"),
    ("[::1]:5000/app", "[::1]:5000/app:latest", "[::1]:5000/app:latest"),
])
def test_normalisation(given: str, full: str, familiar: str) -> None:
    ref = parse_with_default_tag(given)
    assert str(ref) == full
    assert ref.familiar == familiar


def test_digest_reference_keeps_no_default_tag() -> None:
    digest = "sha256:" + "ab" * 32
    ref = parse_with_default_tag(f"busybox@{digest}")
    assert ref.tag is None and ref.digest == digest
    assert ref.familiar == f"busybox@{digest}"


@pytest.mark.parametrize("bad, message", [
    ("Busybox", "must be lowercase"),
    ("busybox:", "invalid reference format"),
    ("busy box", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox@sha256:123", "invalid reference format"),
    ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ("x/" + "a" * 300, "too long"),
])
def test_invalid(bad: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_normalized(bad)


def test_id_prefix_detection() -> None:
    assert looks_like_id_prefix("83e04b74")
    assert looks_like_id_prefix("sha256:83e04b74")
    assert not looks_like_id_prefix("busybox")
    assert not looks_like_id_prefix("")
