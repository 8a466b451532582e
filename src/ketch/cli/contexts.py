"""Row objects behind ``--format`` for images, history and ``system df``.

Each class mirrors one of the Docker CLI's formatter contexts: the same field
names (``{{.Repository}}``, ``{{.CreatedSince}}`` ...), the same values
(truncated IDs, human sizes with Docker's precision per column) and the same
column titles, so that both default tables and user templates print what the
Docker CLI prints.
"""

from __future__ import annotations

from ketch.cli import units
from ketch.cli.goprint import TemplateObject, go_quote
from ketch.cli.reference import ReferenceError, parse_normalized_named, split_normalized

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

NONE = "<none>"
SHORT_ID_LEN = 12

# Column titles (formatter/custom.go and friends).
CREATED_SINCE_HEADER = "CREATED"
CREATED_AT_HEADER = "CREATED AT"
SIZE_HEADER = "SIZE"
LABELS_HEADER = "LABELS"

IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "CreatedSince": CREATED_SINCE_HEADER,
    "CreatedAt": CREATED_AT_HEADER,
    "Size": SIZE_HEADER,
    "Containers": "CONTAINERS",
    "VirtualSize": SIZE_HEADER,
    "SharedSize": "SHARED SIZE",
    "UniqueSize": "UNIQUE SIZE",
}

HISTORY_HEADERS = {
    "ID": "IMAGE",
    "CreatedSince": CREATED_SINCE_HEADER,
    "CreatedAt": CREATED_AT_HEADER,
    "CreatedBy": "CREATED BY",
    "Size": SIZE_HEADER,
    "Comment": "COMMENT",
}

DISK_USAGE_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": SIZE_HEADER,
    "Reclaimable": "RECLAIMABLE",
}

CONTAINER_HEADERS = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": CREATED_AT_HEADER,
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": SIZE_HEADER,
    "Labels": LABELS_HEADER,
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Platform": "PLATFORM",
}

VOLUME_HEADERS = {
    "ID": "ID",
    "Name": "VOLUME NAME",
    "Group": "GROUP",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "Availability": "AVAILABILITY",
    "Mountpoint": "MOUNTPOINT",
    "Labels": LABELS_HEADER,
    "Links": "LINKS",
    "Size": SIZE_HEADER,
    "Status": "STATUS",
}

BUILD_CACHE_HEADERS = {
    "ID": "CACHE ID",
    "Parent": "PARENT",
    "CacheType": "CACHE TYPE",
    "Size": SIZE_HEADER,
    "CreatedSince": CREATED_SINCE_HEADER,
    "LastUsedSince": "LAST USED",
    "UsageCount": "USAGE",
    "InUse": "IN USE",
    "Shared": "SHARED",
    "Description": "DESCRIPTION",
}


def truncate_id(ident: str) -> str:
    """``stringid.TruncateID``: drop the algorithm prefix, keep 12 characters."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:SHORT_ID_LEN]


def ellipsis(text: str, max_width: int) -> str:
    """``formatter.Ellipsis``: cut to ``max_width`` display columns ending in ``…``."""
    from ketch.cli.tabwriter import text_width

    if max_width <= 0:
        return ""
    if max_width == 1:
        return text[:1]
    if text_width(text) <= max_width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch) > max_width - 1:
            break
        out += ch
    return out + "…"


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def is_dangling(summary: dict[str, Any]) -> bool:
    tags = summary.get("RepoTags") or []
    digests = summary.get("RepoDigests") or []
    if not tags and not digests:
        return True
    return tags == ["<none>:<none>"] and digests == ["<none>@<none>"]


class ImageContext(TemplateObject):
    """One row of ``images``: an image summary seen through one repository:tag."""

    GO_TYPE = "*formatter.imageContext"
    FIELDS = ("ID", "Repository", "Tag", "Digest", "CreatedSince", "CreatedAt", "Size",
              "Containers", "VirtualSize", "SharedSize", "UniqueSize")

    def __init__(self, summary: dict[str, Any], repo: str, tag: str, digest: str,
                 trunc: bool) -> None:
        self.summary = summary
        self.repo = repo
        self.tag = tag
        self.digest = digest
        self.trunc = trunc

    def ID(self) -> str:
        ident = str(self.summary.get("Id", ""))
        return truncate_id(ident) if self.trunc else ident

    def Repository(self) -> str:
        return self.repo

    def Tag(self) -> str:
        return self.tag

    def Digest(self) -> str:
        return self.digest

    def CreatedSince(self) -> str:
        return units.since(_int(self.summary.get("Created")))

    def CreatedAt(self) -> str:
        return units.go_time_string(_int(self.summary.get("Created")))

    def Size(self) -> str:
        return units.human_size_with_precision(_int(self.summary.get("Size")), 3)

    def Containers(self) -> str:
        count = _int(self.summary.get("Containers"), -1)
        return "N/A" if count == -1 else str(count)

    def VirtualSize(self) -> str:
        return units.human_size(_int(self.summary.get("Size")))

    def SharedSize(self) -> str:
        shared = _int(self.summary.get("SharedSize"), -1)
        return "N/A" if shared == -1 else units.human_size(shared)

    def UniqueSize(self) -> str:
        size = _int(self.summary.get("Size"), -1)
        shared = _int(self.summary.get("SharedSize"), -1)
        if size == -1 or shared == -1:
            return "N/A"
        return units.human_size(size - shared)


def image_rows(images: list[dict[str, Any]], *, trunc: bool, digest: bool,
               need_digest: bool) -> list[ImageContext]:
    """Docker's ``imageFormat``: one row per repository:tag (per digest with --digests)."""
    rows: list[ImageContext] = []
    for img in images:
        if is_dangling(img):
            rows.append(ImageContext(img, NONE, NONE, NONE, trunc))
            continue
        repo_tags: dict[str, list[str]] = {}
        repo_digests: dict[str, list[str]] = {}
        for ref_text in img.get("RepoTags") or []:
            ref = split_normalized(ref_text)
            if ref.tag:
                repo_tags.setdefault(ref.familiar_name, []).append(ref.tag)
        for ref_text in img.get("RepoDigests") or []:
            ref = split_normalized(ref_text)
            if ref.digest:
                repo_digests.setdefault(ref.familiar_name, []).append(ref.digest)
        for repo, tags in repo_tags.items():
            digests = repo_digests.pop(repo, [])
            if not need_digest:
                digests = []
            for tag in tags:
                if not digests:
                    rows.append(ImageContext(img, repo, tag, NONE, trunc))
                for dgst in digests:
                    rows.append(ImageContext(img, repo, tag, dgst, trunc))
        for repo, digests in repo_digests.items():
            if digest:
                rows.extend(ImageContext(img, repo, NONE, d, trunc) for d in digests)
            else:
                rows.append(ImageContext(img, repo, NONE, "", trunc))
    return rows


EPOCH_2000 = 946684800


class HistoryContext(TemplateObject):
    """One row of ``history``: one layer (or metadata-only step) of an image."""

    GO_TYPE = "*image.historyContext"
    FIELDS = ("ID", "CreatedSince", "CreatedAt", "CreatedBy", "Size", "Comment")

    def __init__(self, item: dict[str, Any], trunc: bool, human: bool) -> None:
        self.item = item
        self.trunc = trunc
        self.human = human

    def ID(self) -> str:
        ident = str(self.item.get("Id", ""))
        return truncate_id(ident) if self.trunc else ident

    def CreatedAt(self) -> str:
        return units.rfc3339(_int(self.item.get("Created")))

    def CreatedSince(self) -> str:
        if not self.human:
            return self.CreatedAt()
        created = _int(self.item.get("Created"))
        if created <= EPOCH_2000:
            return "N/A"
        return units.since(created)

    def CreatedBy(self) -> str:
        created_by = str(self.item.get("CreatedBy") or "").replace("\t", " ")
        return ellipsis(created_by, 45) if self.trunc else created_by

    def Size(self) -> str:
        size = _int(self.item.get("Size"))
        return units.human_size_with_precision(size, 3) if self.human else str(size)

    def Comment(self) -> str:
        return str(self.item.get("Comment") or "")


# --- system df ------------------------------------------------------------------


def _pct(reclaimable: int, total: int) -> str:
    if total > 0:
        return f"{units.human_size(reclaimable)} ({reclaimable * 100 // total}%)"
    return units.human_size(reclaimable)


class _UsageRow(TemplateObject):
    FIELDS = ("Type", "TotalCount", "Active", "Size", "Reclaimable")


class ImagesUsage(_UsageRow):
    GO_TYPE = "*formatter.diskUsageImagesContext"

    def __init__(self, total_size: int, images: list[dict[str, Any]]) -> None:
        self.total_size = total_size
        self.images = images

    def Type(self) -> str:
        return "Images"

    def TotalCount(self) -> str:
        return str(len(self.images))

    def Active(self) -> str:
        return str(sum(1 for i in self.images if _int(i.get("Containers")) > 0))

    def Size(self) -> str:
        return units.human_size(self.total_size)

    def Reclaimable(self) -> str:
        used = 0
        for img in self.images:
            if _int(img.get("Containers")) != 0:
                size, shared = _int(img.get("Size"), -1), _int(img.get("SharedSize"), -1)
                if size == -1 or shared == -1:
                    continue
                used += size - shared
        return _pct(self.total_size - used, self.total_size)


_ACTIVE_STATES = ("running", "paused", "restarting")


class ContainersUsage(_UsageRow):
    GO_TYPE = "*formatter.diskUsageContainersContext"

    def __init__(self, containers: list[dict[str, Any]]) -> None:
        self.containers = containers

    def Type(self) -> str:
        return "Containers"

    def TotalCount(self) -> str:
        return str(len(self.containers))

    def Active(self) -> str:
        return str(sum(1 for c in self.containers if c.get("State") in _ACTIVE_STATES))

    def Size(self) -> str:
        return units.human_size(sum(_int(c.get("SizeRw")) for c in self.containers))

    def Reclaimable(self) -> str:
        total = sum(_int(c.get("SizeRw")) for c in self.containers)
        reclaimable = sum(_int(c.get("SizeRw")) for c in self.containers
                          if c.get("State") not in _ACTIVE_STATES)
        return _pct(reclaimable, total)


def _usage(volume: dict[str, Any]) -> tuple[int, int]:
    data = volume.get("UsageData") or {}
    return _int(data.get("Size"), -1), _int(data.get("RefCount"), 0)


class VolumesUsage(_UsageRow):
    GO_TYPE = "*formatter.diskUsageVolumesContext"

    def __init__(self, volumes: list[dict[str, Any]]) -> None:
        self.volumes = volumes

    def Type(self) -> str:
        return "Local Volumes"

    def TotalCount(self) -> str:
        return str(len(self.volumes))

    def Active(self) -> str:
        return str(sum(1 for v in self.volumes if _usage(v)[1] > 0))

    def Size(self) -> str:
        return units.human_size(sum(s for s, _ in map(_usage, self.volumes) if s != -1))

    def Reclaimable(self) -> str:
        total = reclaimable = 0
        for size, refs in map(_usage, self.volumes):
            if size != -1:
                if refs == 0:
                    reclaimable += size
                total += size
        return _pct(reclaimable, total)


class BuildCacheUsage(_UsageRow):
    GO_TYPE = "*formatter.diskUsageBuilderContext"

    def __init__(self, builder_size: int, records: list[dict[str, Any]]) -> None:
        self.builder_size = builder_size
        self.records = records

    def Type(self) -> str:
        return "Build Cache"

    def TotalCount(self) -> str:
        return str(len(self.records))

    def Active(self) -> str:
        return str(sum(1 for r in self.records if r.get("InUse")))

    def Size(self) -> str:
        return units.human_size(self.builder_size)

    def Reclaimable(self) -> str:
        in_use = sum(_int(r.get("Size")) for r in self.records
                     if r.get("InUse") and not r.get("Shared"))
        return units.human_size(self.builder_size - in_use)


# --- rows of system df -v -------------------------------------------------------


def _display_ports(ports: list[dict[str, Any]]) -> str:
    """``formatter.DisplayablePorts``: group consecutive ports, list host mappings."""
    def key(p: dict[str, Any]) -> tuple[int, str, int, str]:
        return (_int(p.get("PrivatePort")), str(p.get("IP") or ""),
                _int(p.get("PublicPort")), str(p.get("Type") or ""))

    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    host_mappings: list[str] = []

    def form(group_key: str, first: int, last: int) -> str:
        ip, _, kind = group_key.rpartition("/")
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            host = f"[{ip}]" if ":" in ip else ip
            group = f"{host}:{group}->{group}"
        return f"{group}/{kind}"

    for port in sorted(ports, key=key):
        current = _int(port.get("PrivatePort"))
        group_key = str(port.get("Type") or "")
        ip = str(port.get("IP") or "")
        if ip:
            public = _int(port.get("PublicPort"))
            if public != current:
                host = f"[{ip}]" if ":" in ip else ip
                host_mappings.append(f"{host}:{public}->{current}/{group_key}")
                continue
            group_key = f"{ip}/{group_key}"
        group = groups.get(group_key)
        if group is None:
            groups[group_key] = [current, current]
            order.append(group_key)
            continue
        if current == group[1] + 1:
            group[1] = current
            continue
        result.append(form(group_key, group[0], group[1]))
        groups[group_key] = [current, current]
    result.extend(form(k, groups[k][0], groups[k][1]) for k in order)
    return ", ".join(result + host_mappings)


class ContainerContext(TemplateObject):
    """A row of ``ps`` (and of ``system df -v``): one container summary."""

    GO_TYPE = "*formatter.ContainerContext"
    FIELDS = ("ID", "Names", "Image", "Command", "CreatedAt", "RunningFor", "Ports", "State",
              "Status", "Size", "Labels", "Label", "Mounts", "LocalVolumes", "Networks",
              "Platform")

    def __init__(self, summary: dict[str, Any], trunc: bool) -> None:
        self.c = summary
        self.trunc = trunc

    def ID(self) -> str:
        ident = str(self.c.get("Id", ""))
        return truncate_id(ident) if self.trunc else ident

    def Names(self) -> str:
        names = [n[1:] for n in self.c.get("Names") or []]
        if self.trunc:
            for name in names:
                if "/" not in name:
                    names = [name]
                    break
        return ",".join(names)

    def Image(self) -> str:
        image = str(self.c.get("Image") or "")
        if not image:
            return "<no image>"
        if self.trunc:
            short = truncate_id(str(self.c.get("ImageID") or ""))
            if short == truncate_id(image):
                return short
            try:
                ref = parse_normalized_named(image)
            except ReferenceError:
                return image
            if ref.tag:
                return f"{ref.familiar_name}:{ref.tag}"
            return ref.familiar_name
        return image

    def Command(self) -> str:
        command = str(self.c.get("Command") or "")
        if self.trunc:
            command = ellipsis(command, 20)
        return go_quote(command)

    def CreatedAt(self) -> str:
        return units.go_time_string(_int(self.c.get("Created")))

    def RunningFor(self) -> str:
        return units.since(_int(self.c.get("Created")))

    def Ports(self) -> str:
        return _display_ports(list(self.c.get("Ports") or []))

    def State(self) -> str:
        return str(self.c.get("State") or "")

    def Status(self) -> str:
        return str(self.c.get("Status") or "")

    def Size(self) -> str:
        srw = units.human_size_with_precision(_int(self.c.get("SizeRw")), 3)
        root = _int(self.c.get("SizeRootFs"))
        if root > 0:
            return f"{srw} (virtual {units.human_size_with_precision(root, 3)})"
        return srw

    def Labels(self) -> str:
        labels = self.c.get("Labels") or {}
        return ",".join(sorted(f"{k}={v}" for k, v in labels.items()))

    def Label(self, name: str) -> str:
        return str((self.c.get("Labels") or {}).get(name, ""))

    Label.takes_args = True  # type: ignore[attr-defined]

    def Mounts(self) -> str:
        names = []
        for m in self.c.get("Mounts") or []:
            name = str(m.get("Name") or m.get("Source") or "")
            names.append(ellipsis(name, 15) if self.trunc else name)
        return ",".join(names)

    def LocalVolumes(self) -> str:
        return str(sum(1 for m in self.c.get("Mounts") or [] if m.get("Driver") == "local"))

    def Networks(self) -> str:
        settings = self.c.get("NetworkSettings") or {}
        return ",".join((settings.get("Networks") or {}).keys())

    def Platform(self) -> str | None:
        """``os/arch[/variant]`` of the image manifest the daemon reports (API 1.48+)."""
        descriptor = self.c.get("ImageManifestDescriptor") or {}
        platform = descriptor.get("platform")
        if not platform:
            return None
        parts = [platform.get("os") or "unknown", platform.get("architecture") or "unknown"]
        if platform.get("variant"):
            parts.append(platform["variant"])
        return "/".join(parts)


class VolumeContext(TemplateObject):
    GO_TYPE = "*formatter.volumeContext"
    FIELDS = ("Name", "Driver", "Scope", "Mountpoint", "Labels", "Label", "Links", "Size",
              "Group", "Availability", "Status")

    def __init__(self, volume: dict[str, Any]) -> None:
        self.v = volume

    def Name(self) -> str:
        return str(self.v.get("Name") or "")

    def Driver(self) -> str:
        return str(self.v.get("Driver") or "")

    def Scope(self) -> str:
        return str(self.v.get("Scope") or "")

    def Mountpoint(self) -> str:
        return str(self.v.get("Mountpoint") or "")

    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self.v.get("Labels") or {}).items())

    def Label(self, name: str) -> str:
        return str((self.v.get("Labels") or {}).get(name, ""))

    Label.takes_args = True  # type: ignore[attr-defined]

    def Links(self) -> str:
        data = self.v.get("UsageData")
        return "N/A" if data is None else str(_int(data.get("RefCount")))

    def Size(self) -> str:
        data = self.v.get("UsageData")
        return "N/A" if data is None else units.human_size(_int(data.get("Size")))

    def Group(self) -> str:
        cluster = self.v.get("ClusterVolume")
        return "N/A" if not cluster else str((cluster.get("Spec") or {}).get("Group", ""))

    def Availability(self) -> str:
        cluster = self.v.get("ClusterVolume")
        return "N/A" if not cluster else str((cluster.get("Spec") or {}).get("Availability", ""))

    def Status(self) -> str:
        cluster = self.v.get("ClusterVolume")
        if not cluster:
            return "N/A"
        if not (cluster.get("Info") or {}).get("VolumeID"):
            return "pending creation"
        n = len(cluster.get("PublishStatus") or [])
        return "created" if n == 0 else ("in use (1 node)" if n == 1 else f"in use ({n} nodes)")


def parse_api_time(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 time from the API (nanoseconds allowed), or None."""
    from datetime import datetime

    if not value or not isinstance(value, str):
        return None
    text = value
    if "." in text:
        head, _, rest = text.partition(".")
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits):]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class BuildCacheContext(TemplateObject):
    GO_TYPE = "*formatter.buildCacheContext"
    FIELDS = ("ID", "Parent", "CacheType", "Description", "Size", "CreatedAt", "CreatedSince",
              "LastUsedAt", "LastUsedSince", "UsageCount", "InUse", "Shared")

    def __init__(self, record: dict[str, Any], trunc: bool) -> None:
        self.r = record
        self.trunc = trunc

    def ID(self) -> str:
        ident = str(self.r.get("ID") or "")
        if self.trunc:
            ident = truncate_id(ident)
        return ident + "*" if self.r.get("InUse") else ident

    def Parent(self) -> str:
        # Docker's JSON key really starts with a space (its struct tag does)
        parents = self.r.get(" Parents") or self.r.get("Parents") or []
        parent = ", ".join(parents) if parents else str(self.r.get("Parent") or "")
        return truncate_id(parent) if self.trunc else parent

    def CacheType(self) -> str:
        return str(self.r.get("Type") or "")

    def Description(self) -> str:
        return str(self.r.get("Description") or "")

    def Size(self) -> str:
        return units.human_size_with_precision(_int(self.r.get("Size")), 3)

    def CreatedAt(self) -> str:
        ts = parse_api_time(self.r.get("CreatedAt"))
        return units.go_time_string(int(ts)) if ts is not None else ""

    def CreatedSince(self) -> str:
        ts = parse_api_time(self.r.get("CreatedAt"))
        return units.since(ts if ts is not None else 0)

    def LastUsedAt(self) -> str:
        ts = parse_api_time(self.r.get("LastUsedAt"))
        return units.go_time_string(int(ts)) if ts is not None else ""

    def LastUsedSince(self) -> str:
        ts = parse_api_time(self.r.get("LastUsedAt"))
        return units.since(ts) if ts is not None else ""

    def UsageCount(self) -> str:
        return str(_int(self.r.get("UsageCount")))

    def InUse(self) -> str:
        return "true" if self.r.get("InUse") else "false"

    def Shared(self) -> str:
        return "true" if self.r.get("Shared") else "false"


class DiskUsageVerbose(TemplateObject):
    """Dot of ``system df -v --format TEMPLATE``: the four lists of rows."""

    GO_TYPE = "*formatter.diskUsageContext"
    FIELDS = ("Images", "Containers", "Volumes", "BuildCache")

    def __init__(self, images: list[ImageContext], containers: list[ContainerContext],
                 volumes: list[VolumeContext], build_cache: list[BuildCacheContext]) -> None:
        self.images = images
        self.containers = containers
        self.volumes = volumes
        self.build_cache = build_cache

    def Images(self) -> list[ImageContext]:
        return self.images

    def Containers(self) -> list[ContainerContext]:
        return self.containers

    def Volumes(self) -> list[VolumeContext]:
        return self.volumes

    def BuildCache(self) -> list[BuildCacheContext]:
        return self.build_cache
