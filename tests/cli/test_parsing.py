"""References, time values and raw JSON layout, as the Docker CLI handles them."""

from __future__ import annotations

import json

import pytest

from ketch.cli.rawjson import compact, indent
from ketch.cli.reference import (
    ReferenceError,
    parse_any_reference,
    parse_normalized_named,
    split_normalized,
    with_default_tag,
)
from ketch.cli.timestamps import get_timestamp, parse_go_duration


@pytest.mark.parametrize(("text", "name", "familiar", "tag"), [
    ("busybox", "docker.io/library/busybox", "busybox", ""),
    ("busybox:1.36", "docker.io/library/busybox", "busybox", "1.36"),
    ("foo/bar:1.0", "docker.io/foo/bar", "foo/bar", "1.0"),
    ("docker.io/library/busybox:latest", "docker.io/library/busybox", "busybox", "latest"),
    ("index.docker.io/foo/bar", "docker.io/foo/bar", "foo/bar", ""),
    ("localhost/x", "localhost/x", "localhost/x", ""),
    ("localhost:5000/ns/x:v2", "localhost:5000/ns/x", "localhost:5000/ns/x", "v2"),
    ("registry.example.com/a/b/c", "registry.example.com/a/b/c", "registry.example.com/a/b/c",
     ""),
    ("[::1]:5000/x:y", "[::1]:5000/x", "[::1]:5000/x", "y"),
])
def test_normalized_names(text: str, name: str, familiar: str, tag: str) -> None:
    ref = parse_normalized_named(text)
    assert (ref.name, ref.familiar_name, ref.tag) == (name, familiar, tag)
    assert split_normalized(ref.name + (f":{tag}" if tag else "")) == ref


@pytest.mark.parametrize(("text", "message"), [
    ("UPPER", "invalid reference format: repository name (library/UPPER) must be lowercase"),
    ("a" * 64, f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal "
               "strings"),
    ("foo:bad tag", "invalid reference format"),
    ("foo/", "invalid reference format"),
    ("-foo", "invalid reference format"),
])
def test_invalid_references(text: str, message: str) -> None:
    with pytest.raises(ReferenceError) as info:
        parse_normalized_named(text)
    assert str(info.value) == message


def test_digests_ids_and_default_tags() -> None:
    digest = "sha256:" + "0" * 64
    ref = parse_normalized_named(f"foo@{digest}")
    assert (ref.tag, ref.digest, ref.familiar_string()) == ("", digest, f"foo@{digest}")
    assert parse_any_reference("f" * 64) is None
    assert with_default_tag(parse_normalized_named("foo")).tag == "latest"
    assert with_default_tag(ref).tag == ""


@pytest.mark.parametrize(("text", "seconds"), [
    ("10m", 600.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("300ms", 0.3), ("0", 0.0),
    ("-2s", -2.0), ("2x", None), ("", None), ("1", None), ("1h 2m", None),
])
def test_go_durations(text: str, seconds: float | None) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize(("value", "expected"), [
    ("10m", "1699999400"),
    ("0", "0"),
    ("1700000000", "1700000000"),
    ("1700000000.123", "1700000000.123"),
    ("2020-01-02T03:04:05Z", "1577934245.000000000"),
    ("2020-01-02T03:04:05.5+01:00", "1577930645.500000000"),
    ("2020-01-02Z", "1577923200.000000000"),
])
def test_timestamps(value: str, expected: str) -> None:
    assert get_timestamp(value, now=1_700_000_000) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("bogus", 'failed to parse value as time or duration: "bogus"'),
    ("2020-13-01", 'parsing time "2020-13-01": month out of range'),
    ("2020-01-32T00:00:00Z", 'parsing time "2020-01-32T00:00:00Z": day out of range'),
])
def test_timestamp_errors(value: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        get_timestamp(value, now=1_700_000_000)
    assert str(info.value) == message


def test_indent_keeps_the_daemons_text() -> None:
    raw = '[{"Id":"x","Env":["A=\\u003cb\\u003e"],"Labels":{},"List":[],"N":1.50,"T":true}]'
    assert indent(raw) == (
        '[\n    {\n        "Id": "x",\n        "Env": [\n            "A=\\u003cb\\u003e"\n'
        '        ],\n        "Labels": {},\n        "List": [],\n        "N": 1.50,\n'
        '        "T": true\n    }\n]'
    )
    assert json.loads(indent(raw)) == json.loads(raw)
    assert compact(indent(raw)) == raw
    assert compact('{ "a" : "x y" ,\n "b":[ 1 , 2 ] }') == '{"a":"x y","b":[1,2]}'
