"""How Docker's typed Go structs show JSON nulls and absent fields to templates.

The Docker CLI runs ``inspect --format`` templates over the decoded Go struct
first. There a JSON ``null`` slice prints ``[]``, a null map ``map[]``, a nil
pointer ``<nil>``, an absent string field ``""`` and a time ``2024-01-02
15:04:05 +0000 UTC``. Templates run over plain decoded JSON would print
``<no value>`` instead, so for the object kinds we know we rebuild that typed
view from a small schema: for each field, the Go zero value it has.
"""

from __future__ import annotations

from typing import Any

from ketch.cli.goprint import GoTime, NilList, NilMap

# Schema values: "s" string, "i" number, "b" bool, "[]" slice, "map" map, "ptr" pointer,
# "time" time.Time, or a nested dict (a struct).
_CONTAINER_CONFIG: dict[str, Any] = {
    "Hostname": "s", "Domainname": "s", "User": "s", "AttachStdin": "b", "AttachStdout": "b",
    "AttachStderr": "b", "ExposedPorts": "map", "Tty": "b", "OpenStdin": "b",
    "StdinOnce": "b", "Env": "[]", "Cmd": "[]", "Healthcheck": "ptr", "ArgsEscaped": "b",
    "Image": "s", "Volumes": "map", "WorkingDir": "s", "Entrypoint": "[]",
    "NetworkDisabled": "b", "MacAddress": "s", "OnBuild": "[]", "Labels": "map",
    "StopSignal": "s", "StopTimeout": "ptr", "Shell": "[]",
}

_IMAGE_CONFIG: dict[str, Any] = {
    "User": "s", "ExposedPorts": "map", "Env": "[]", "Entrypoint": "[]", "Cmd": "[]",
    "Volumes": "map", "WorkingDir": "s", "Labels": "map", "StopSignal": "s",
    "ArgsEscaped": "b", "Healthcheck": "ptr", "OnBuild": "[]", "Shell": "[]",
}

IMAGE_INSPECT: dict[str, Any] = {
    "Id": "s", "RepoTags": "[]", "RepoDigests": "[]", "Parent": "s", "Comment": "s",
    "Created": "s", "Container": "s", "ContainerConfig": ("ptr", _CONTAINER_CONFIG),
    "DockerVersion": "s", "Author": "s", "Config": ("ptr", _IMAGE_CONFIG),
    "Architecture": "s", "Variant": "s", "Os": "s", "OsVersion": "s", "Size": "i",
    "VirtualSize": "i", "GraphDriver": {"Data": "map", "Name": "s"},
    "RootFS": {"Type": "s", "Layers": "[]"}, "Metadata": {"LastTagTime": "time"},
    "Descriptor": "ptr", "Manifests": "[]",
}

_ZERO = {"s": "", "i": 0, "b": False}


def typed_view(doc: Any, schema: dict[str, Any]) -> Any:
    """``doc`` with nulls and absent fields replaced by what the Go struct would show."""
    if not isinstance(doc, dict):
        return doc
    out: dict[str, Any] = dict(doc)
    for key, kind in schema.items():
        value = out.get(key)
        out[key] = _field(value, kind, key in out)
    return out


def _field(value: Any, kind: Any, present: bool) -> Any:
    if isinstance(kind, tuple):  # pointer to struct
        return None if value is None else typed_view(value, kind[1])
    if isinstance(kind, dict):  # struct value
        return typed_view(value if isinstance(value, dict) else {}, kind)
    if kind == "[]":
        return NilList() if value is None else value
    if kind == "map":
        return NilMap() if value is None else value
    if kind == "time":
        return GoTime(value if isinstance(value, str) else "0001-01-01T00:00:00Z")
    if kind == "ptr":
        return value
    if value is None:
        return _ZERO.get(kind, value) if not present or kind in _ZERO else value
    return value
