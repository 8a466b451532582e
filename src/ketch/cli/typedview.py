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

from ketch.cli.goprint import GoMap, GoStringList, GoStruct, GoTime, NilList, NilMap

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

# A field: (Go name, json key ("" = embedded struct), kind, omitempty). Kinds: "s" string,
# "i" number, "b" bool, "[]" []string, "map" map, "ptr" pointer (kept as is), "time",
# or ("struct" | "ptrstruct" | "list" | "map", go type, fields) (a struct, a pointer to
# one, a slice of them, a map of them).
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

_STATE: list[Field] = [
    ("Status", "Status", "s", False), ("Running", "Running", "b", False),
    ("Paused", "Paused", "b", False), ("Restarting", "Restarting", "b", False),
    ("OOMKilled", "OOMKilled", "b", False), ("Dead", "Dead", "b", False),
    ("Pid", "Pid", "i", False), ("ExitCode", "ExitCode", "i", False),
    ("Error", "Error", "s", False), ("StartedAt", "StartedAt", "s", False),
    ("FinishedAt", "FinishedAt", "s", False),
    ("Health", "Health", ("ptrstruct", "container.Health", [
        ("Status", "Status", "s", False), ("FailingStreak", "FailingStreak", "i", False),
        ("Log", "Log", "ptr", False)]), True),
]

_RESOURCES: list[Field] = [
    ("CPUShares", "CpuShares", "i", False), ("Memory", "Memory", "i", False),
    ("NanoCPUs", "NanoCpus", "i", False), ("CgroupParent", "CgroupParent", "s", False),
    ("BlkioWeight", "BlkioWeight", "i", False),
    ("BlkioWeightDevice", "BlkioWeightDevice", "ptr", False),
    ("BlkioDeviceReadBps", "BlkioDeviceReadBps", "ptr", False),
    ("BlkioDeviceWriteBps", "BlkioDeviceWriteBps", "ptr", False),
    ("BlkioDeviceReadIOps", "BlkioDeviceReadIOps", "ptr", False),
    ("BlkioDeviceWriteIOps", "BlkioDeviceWriteIOps", "ptr", False),
    ("CPUPeriod", "CpuPeriod", "i", False), ("CPUQuota", "CpuQuota", "i", False),
    ("CPURealtimePeriod", "CpuRealtimePeriod", "i", False),
    ("CPURealtimeRuntime", "CpuRealtimeRuntime", "i", False),
    ("CpusetCpus", "CpusetCpus", "s", False), ("CpusetMems", "CpusetMems", "s", False),
    ("Devices", "Devices", "ptr", False), ("DeviceCgroupRules", "DeviceCgroupRules", "[]", False),
    ("DeviceRequests", "DeviceRequests", "ptr", False),
    ("KernelMemory", "KernelMemory", "i", True), ("KernelMemoryTCP", "KernelMemoryTCP", "i", True),
    ("MemoryReservation", "MemoryReservation", "i", False),
    ("MemorySwap", "MemorySwap", "i", False),
    ("MemorySwappiness", "MemorySwappiness", "ptr", False),
    ("OomKillDisable", "OomKillDisable", "ptr", False), ("PidsLimit", "PidsLimit", "ptr", False),
    ("Ulimits", "Ulimits", "ptr", False), ("CPUCount", "CpuCount", "i", False),
    ("CPUPercent", "CpuPercent", "i", False), ("IOMaximumIOps", "IOMaximumIOps", "i", False),
    ("IOMaximumBandwidth", "IOMaximumBandwidth", "i", False),
]

_HOST_CONFIG: list[Field] = [
    ("Binds", "Binds", "[]", False), ("ContainerIDFile", "ContainerIDFile", "s", False),
    ("LogConfig", "LogConfig", ("struct", "container.LogConfig", [
        ("Type", "Type", "s", False), ("Config", "Config", "map", False)]), False),
    ("NetworkMode", "NetworkMode", "s", False), ("PortBindings", "PortBindings", "map", False),
    ("RestartPolicy", "RestartPolicy", ("struct", "container.RestartPolicy", [
        ("Name", "Name", "s", False),
        ("MaximumRetryCount", "MaximumRetryCount", "i", False)]), False),
    ("AutoRemove", "AutoRemove", "b", False), ("VolumeDriver", "VolumeDriver", "s", False),
    ("VolumesFrom", "VolumesFrom", "[]", False), ("ConsoleSize", "ConsoleSize", "ptr", False),
    ("Annotations", "Annotations", "map", True), ("CapAdd", "CapAdd", "[]", False),
    ("CapDrop", "CapDrop", "[]", False), ("CgroupnsMode", "CgroupnsMode", "s", False),
    ("DNS", "Dns", "[]", False), ("DNSOptions", "DnsOptions", "[]", False),
    ("DNSSearch", "DnsSearch", "[]", False), ("ExtraHosts", "ExtraHosts", "[]", False),
    ("GroupAdd", "GroupAdd", "[]", False), ("IpcMode", "IpcMode", "s", False),
    ("Cgroup", "Cgroup", "s", False), ("Links", "Links", "[]", False),
    ("OomScoreAdj", "OomScoreAdj", "i", False), ("PidMode", "PidMode", "s", False),
    ("Privileged", "Privileged", "b", False), ("PublishAllPorts", "PublishAllPorts", "b", False),
    ("ReadonlyRootfs", "ReadonlyRootfs", "b", False), ("SecurityOpt", "SecurityOpt", "[]", False),
    ("StorageOpt", "StorageOpt", "map", True), ("Tmpfs", "Tmpfs", "map", True),
    ("UTSMode", "UTSMode", "s", False), ("UsernsMode", "UsernsMode", "s", False),
    ("ShmSize", "ShmSize", "i", False), ("Sysctls", "Sysctls", "map", True),
    ("Runtime", "Runtime", "s", True), ("Isolation", "Isolation", "s", False),
    ("Resources", "", ("struct", "container.Resources", _RESOURCES), False),
    ("Mounts", "Mounts", "ptr", True), ("MaskedPaths", "MaskedPaths", "[]", False),
    ("ReadonlyPaths", "ReadonlyPaths", "[]", False), ("Init", "Init", "ptr", True),
]

_MOUNT_POINT: list[Field] = [
    ("Type", "Type", "s", True), ("Name", "Name", "s", True), ("Source", "Source", "s", False),
    ("Destination", "Destination", "s", False), ("Driver", "Driver", "s", True),
    ("Mode", "Mode", "s", False), ("RW", "RW", "b", False),
    ("Propagation", "Propagation", "s", False),
]

_ENDPOINT_SETTINGS: list[Field] = [
    ("IPAMConfig", "IPAMConfig", "ptr", False), ("Links", "Links", "[]", False),
    ("Aliases", "Aliases", "[]", False), ("MacAddress", "MacAddress", "s", False),
    ("DriverOpts", "DriverOpts", "map", False), ("GwPriority", "GwPriority", "i", False),
    ("NetworkID", "NetworkID", "s", False), ("EndpointID", "EndpointID", "s", False),
    ("Gateway", "Gateway", "s", False), ("IPAddress", "IPAddress", "s", False),
    ("IPPrefixLen", "IPPrefixLen", "i", False), ("IPv6Gateway", "IPv6Gateway", "s", False),
    ("GlobalIPv6Address", "GlobalIPv6Address", "s", False),
    ("GlobalIPv6PrefixLen", "GlobalIPv6PrefixLen", "i", False),
    ("DNSNames", "DNSNames", "[]", False),
]

_NETWORK_SETTINGS: list[Field] = [
    ("NetworkSettingsBase", "", ("struct", "container.NetworkSettingsBase", [
        ("Bridge", "Bridge", "s", False), ("SandboxID", "SandboxID", "s", False),
        ("SandboxKey", "SandboxKey", "s", False), ("Ports", "Ports", "map", False),
        ("HairpinMode", "HairpinMode", "b", False),
        ("LinkLocalIPv6Address", "LinkLocalIPv6Address", "s", False),
        ("LinkLocalIPv6PrefixLen", "LinkLocalIPv6PrefixLen", "i", False),
        ("SecondaryIPAddresses", "SecondaryIPAddresses", "ptr", False),
        ("SecondaryIPv6Addresses", "SecondaryIPv6Addresses", "ptr", False),
    ]), False),
    ("DefaultNetworkSettings", "", ("struct", "container.DefaultNetworkSettings", [
        ("EndpointID", "EndpointID", "s", False), ("Gateway", "Gateway", "s", False),
        ("GlobalIPv6Address", "GlobalIPv6Address", "s", False),
        ("GlobalIPv6PrefixLen", "GlobalIPv6PrefixLen", "i", False),
        ("IPAddress", "IPAddress", "s", False), ("IPPrefixLen", "IPPrefixLen", "i", False),
        ("IPv6Gateway", "IPv6Gateway", "s", False), ("MacAddress", "MacAddress", "s", False),
    ]), False),
    ("Networks", "Networks", ("map", "*network.EndpointSettings", _ENDPOINT_SETTINGS), False),
]

_CONTAINER_BASE: list[Field] = [
    ("ID", "Id", "s", False), ("Created", "Created", "s", False), ("Path", "Path", "s", False),
    ("Args", "Args", "[]", False),
    ("State", "State", ("ptrstruct", "container.State", _STATE), False),
    ("Image", "Image", "s", False), ("ResolvConfPath", "ResolvConfPath", "s", False),
    ("HostnamePath", "HostnamePath", "s", False), ("HostsPath", "HostsPath", "s", False),
    ("LogPath", "LogPath", "s", False), ("Name", "Name", "s", False),
    ("RestartCount", "RestartCount", "i", False), ("Driver", "Driver", "s", False),
    ("Platform", "Platform", "s", False), ("MountLabel", "MountLabel", "s", False),
    ("ProcessLabel", "ProcessLabel", "s", False),
    ("AppArmorProfile", "AppArmorProfile", "s", False), ("ExecIDs", "ExecIDs", "[]", False),
    ("HostConfig", "HostConfig", ("ptrstruct", "container.HostConfig", _HOST_CONFIG), False),
    ("GraphDriver", "GraphDriver",
     ("struct", "storage.DriverData", [("Data", "Data", "map", False),
                                       ("Name", "Name", "s", False)]), False),
    ("SizeRw", "SizeRw", "ptr", True), ("SizeRootFs", "SizeRootFs", "ptr", True),
]

#: Docker 28's ``container.InspectResponse``.
CONTAINER_INSPECT: list[Field] = [
    ("ContainerJSONBase", "", ("struct", "container.ContainerJSONBase", _CONTAINER_BASE), False),
    ("Mounts", "Mounts", ("list", "container.MountPoint", _MOUNT_POINT), False),
    ("Config", "Config", ("ptrstruct", "container.Config", _CONTAINER_CONFIG), False),
    ("NetworkSettings", "NetworkSettings",
     ("ptrstruct", "container.NetworkSettings", _NETWORK_SETTINGS), False),
    ("ImageManifestDescriptor", "ImageManifestDescriptor", "ptr", True),
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
        if shape == "list":
            if not isinstance(value, list):
                return NilList()
            return [typed_view(item, fields, go_type) for item in value]
        if shape == "map":
            if not isinstance(value, dict):
                return NilMap()
            return {k: typed_view(v, fields, go_type) for k, v in value.items()}
        if shape == "ptrstruct" and value is None:
            return None
        return typed_view(value, fields, go_type)
    if kind == "[]":
        if value is None:
            return NilList()
        return GoStringList(str(v) for v in value) if isinstance(value, list) else value
    if kind == "map":
        if value is None:
            return NilMap()
        return GoMap(value) if isinstance(value, dict) else value
    if kind == "time":
        return GoTime(value if isinstance(value, str) else "0001-01-01T00:00:00Z")
    if kind == "ptr":
        return value
    if value is None:
        return _ZERO.get(kind)
    return value
