"""The typed Go structs Docker runs ``inspect --format`` templates over.

The Docker CLI decodes inspect data into its Go types and runs the template
over those first; only if that fails does it run it over the raw JSON (a map,
numbers as ``json.Number``). The two differ visibly: in the typed struct a
JSON ``null`` slice prints ``[]``, a null map ``map[]``, an absent string
``""``, a struct ``{a b}``, a time ``2024-01-02 15:04:05 +0000 UTC``, field
names are Go's (``.ID``, not ``.Id``), and ``{{json .Config}}`` omits empty
fields. This module rebuilds that typed view from a schema of the structs, so
templates print what they print under Docker.
"""

from __future__ import annotations

from ketch.cli.goprint import GoStringList, GoStruct, GoTime, NilList, NilMap

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

# A field: (Go name, json key ("" = embedded struct), kind, omitempty). Kinds: "s" string,
# "i" number, "b" bool, "[]" []string, "map" map, "ptr" pointer (kept as is), "time",
# or ("struct" | "ptrstruct", go type, fields).
Field = tuple[str, str, "Any", bool]

_CONTAINER_CONFIG: list[Field] = [
    ("Hostname", "Hostname", "s", False), ("Domainname", "Domainname", "s", False),
    ("User", "User", "s", False), ("AttachStdin", "AttachStdin", "b", False),
    ("AttachStdout", "AttachStdout", "b", False), ("AttachStderr", "AttachStderr", "b", False),
    ("ExposedPorts", "ExposedPorts", "map", True), ("Tty", "Tty", "b", False),
    ("OpenStdin", "OpenStdin", "b", False), ("StdinOnce", "StdinOnce", "b", False),
    ("Env", "Env", "[]", False), ("Cmd", "Cmd", "[]", False),
    ("Healthcheck", "Healthcheck", "ptr", True), ("ArgsEscaped", "ArgsEscaped", "b", True),
    ("Image", "Image", "s", False), ("Volumes", "Volumes", "map", False),
    ("WorkingDir", "WorkingDir", "s", False), ("Entrypoint", "Entrypoint", "[]", False),
    ("NetworkDisabled", "NetworkDisabled", "b", True), ("MacAddress", "MacAddress", "s", True),
    ("OnBuild", "OnBuild", "[]", False), ("Labels", "Labels", "map", False),
    ("StopSignal", "StopSignal", "s", True), ("StopTimeout", "StopTimeout", "ptr", True),
    ("Shell", "Shell", "[]", True),
]

_OCI_IMAGE_CONFIG: list[Field] = [
    ("User", "User", "s", True), ("ExposedPorts", "ExposedPorts", "map", True),
    ("Env", "Env", "[]", True), ("Entrypoint", "Entrypoint", "[]", True),
    ("Cmd", "Cmd", "[]", True), ("Volumes", "Volumes", "map", True),
    ("WorkingDir", "WorkingDir", "s", True), ("Labels", "Labels", "map", True),
    ("StopSignal", "StopSignal", "s", True), ("ArgsEscaped", "ArgsEscaped", "b", True),
]

_DOCKER_CONFIG_EXT: list[Field] = [
    ("Healthcheck", "Healthcheck", "ptr", True), ("OnBuild", "OnBuild", "[]", True),
    ("Shell", "Shell", "[]", True),
]

_DOCKER_OCI_IMAGE_CONFIG: list[Field] = [
    ("ImageConfig", "", ("struct", "v1.ImageConfig", _OCI_IMAGE_CONFIG), False),
    ("DockerOCIImageConfigExt", "",
     ("struct", "v1.DockerOCIImageConfigExt", _DOCKER_CONFIG_EXT), False),
]

#: Docker 28's ``image.InspectResponse``.
IMAGE_INSPECT: list[Field] = [
    ("ID", "Id", "s", False), ("RepoTags", "RepoTags", "[]", False),
    ("RepoDigests", "RepoDigests", "[]", False), ("Parent", "Parent", "s", False),
    ("Comment", "Comment", "s", False), ("Created", "Created", "s", True),
    ("Container", "Container", "s", True),
    ("ContainerConfig", "ContainerConfig",
     ("ptrstruct", "container.Config", _CONTAINER_CONFIG), True),
    ("DockerVersion", "DockerVersion", "s", False), ("Author", "Author", "s", False),
    ("Config", "Config", ("ptrstruct", "v1.DockerOCIImageConfig", _DOCKER_OCI_IMAGE_CONFIG),
     False),
    ("Architecture", "Architecture", "s", False), ("Variant", "Variant", "s", True),
    ("Os", "Os", "s", False), ("OsVersion", "OsVersion", "s", True),
    ("Size", "Size", "i", False), ("VirtualSize", "VirtualSize", "i", True),
    ("GraphDriver", "GraphDriver",
     ("struct", "storage.DriverData", [("Data", "Data", "map", False),
                                       ("Name", "Name", "s", False)]), False),
    ("RootFS", "RootFS", ("struct", "image.RootFS", [("Type", "Type", "s", True),
                                                     ("Layers", "Layers", "[]", True)]),
     False),
    ("Metadata", "Metadata",
     ("struct", "image.Metadata", [("LastTagTime", "LastTagTime", "time", True)]), False),
    ("Descriptor", "Descriptor", "ptr", True), ("Manifests", "Manifests", "ptr", True),
]

_ZERO: dict[str, Any] = {"s": "", "i": 0, "b": False}


def typed_view(doc: Any, fields: list[Field], go_type: str) -> GoStruct:
    """``doc`` (decoded JSON) as the Go struct ``go_type`` with ``fields``."""
    data = doc if isinstance(doc, dict) else {}
    built: list[tuple[str, str | None, Any, bool]] = []
    for name, key, kind, omitempty in fields:
        if key == "":  # embedded struct: its fields are at this level of the JSON
            _, sub_type, sub_fields = kind
            built.append((name, "", typed_view(data, sub_fields, sub_type), False))
            continue
        built.append((name, key, _value(data.get(key), kind), omitempty))
    return GoStruct(go_type, built)


def _value(value: Any, kind: Any) -> Any:
    if isinstance(kind, tuple):
        shape, go_type, fields = kind
        if shape == "ptrstruct" and value is None:
            return None
        return typed_view(value, fields, go_type)
    if kind == "[]":
        if value is None:
            return NilList()
        return GoStringList(str(v) for v in value) if isinstance(value, list) else value
    if kind == "map":
        return NilMap() if value is None else value
    if kind == "time":
        return GoTime(value if isinstance(value, str) else "0001-01-01T00:00:00Z")
    if kind == "ptr":
        return value
    if value is None:
        return _ZERO.get(kind)
    return value
