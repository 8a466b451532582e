"""Volume commands: ``volume create``, ``ls``, ``inspect``, ``rm``, ``prune``.

Flags, output and exit codes are the Docker CLI 28's: ``ls`` sorts names
naturally (``v2`` before ``v10``) and prints ``DRIVER  VOLUME NAME``; ``rm``
prints each removed name and, at the end, one error line per failure (exit
1); ``prune`` asks first unless ``-f``, prunes only anonymous volumes unless
``-a`` (API 1.42+), and a "no" is a quiet cancellation.
"""

from __future__ import annotations

from ketch.cli.containeropts import kv_map
from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.cli.objectcmds import (
    FORMAT_HELP,
    filter_flag,
    filters_of,
    inspect_objects,
    inspect_spec,
    natural_sorted,
    print_pruned,
    prune_confirmed,
    prune_spec,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:

    from ketch.cli.objectcmds import Schema
    from ketch.cli.typedview import Field
    from ketch.client.volumes import VolumesAPI

#: Docker 28's ``volume.Volume``, for ``inspect --format`` over the typed struct.
VOLUME_INSPECT: list[Field] = [
    ("ClusterVolume", "ClusterVolume", "ptr", True),
    ("CreatedAt", "CreatedAt", "s", True),
    ("Driver", "Driver", "s", False),
    ("Labels", "Labels", "map", False),
    ("Mountpoint", "Mountpoint", "s", False),
    ("Name", "Name", "s", False),
    ("Options", "Options", "map", False),
    ("Scope", "Scope", "s", False),
    ("Status", "Status", "map", True),
    ("UsageData", "UsageData",
     ("ptrstruct", "volume.UsageData", [("RefCount", "RefCount", "i", False),
                                        ("Size", "Size", "i", False)]), True),
]

_DEFAULT_TABLE = "table {{.Driver}}\t{{.Name}}"
_QUIET = "{{.Name}}"
_CLUSTER_TABLE = "table {{.Name}}\t{{.Group}}\t{{.Driver}}\t{{.Availability}}\t{{.Status}}"


def _api(env: Env) -> VolumesAPI:
    from ketch.client.volumes import VolumesAPI

    return VolumesAPI(env.client)


# --- volume create ----------------------------------------------------------------------


def _validate_label(value: str) -> str:
    from ketch.cli.containeropts import validate_label

    return validate_label(value)


_CLUSTER_FLAGS = (
    ("group", "Cluster Volume group (cluster volumes)", "string", ""),
    ("scope", 'Cluster Volume access scope ("single", "multi")', "string", "single"),
    ("sharing", 'Cluster Volume access sharing ("none", "readonly", "onewriter", "all")',
     "string", "none"),
    ("availability", 'Cluster Volume availability ("active", "pause", "drain")', "string",
     "active"),
    ("type", 'Cluster Volume access type ("mount", "block")', "string", "block"),
    ("secret", "Cluster Volume secrets", "list", None),
    ("limit-bytes", "Minimum size of the Cluster Volume in bytes", "string", ""),
    ("required-bytes", "Maximum size of the Cluster Volume in bytes", "string", ""),
    ("topology-required", "A topology that the Cluster Volume must be accessible from",
     "list", None),
    ("topology-preferred", "A topology that the Cluster Volume would be preferred in",
     "list", None),
)
#: the flags whose use makes ``volume create`` ask for a cluster volume (docker's list)
_CLUSTER_TRIGGERS = ("group", "scope", "sharing", "availability", "type", "secret",
                     "limit_bytes", "required_bytes")


def spec_volume_create(path: str) -> CommandSpec:
    flags = [
        Flag("driver", "Specify volume driver name", short="d", kind="string",
             default="local"),
        Flag("label", "Set metadata for a volume", kind="list", typename="list",
             convert=_validate_label),
        Flag("name", "Specify volume name", kind="string", hidden=True),
        Flag("opt", "Set driver specific options (default map[])", short="o", kind="list",
             typename="map"),
    ]
    flags += [Flag(long, text, kind=kind, default=default, hidden=True)
              for long, text, kind, default in _CLUSTER_FLAGS]
    return CommandSpec(path, "create [OPTIONS] [VOLUME]", "Create a volume", flags=flags,
                       max_args=1)


def run_volume_create(env: Env, p: Parsed) -> int:
    name = p["name"]
    if p.args:
        if name:
            raise UsageError("conflicting options: cannot specify a volume-name through both "
                             "--name and as a positional arg")
        name = p.args[0]
    cluster = None
    if any(flag in p.changed for flag in _CLUSTER_TRIGGERS):
        cluster = {"Group": p["group"], "AccessMode": {"Scope": p["scope"],
                                                       "Sharing": p["sharing"]},
                   "Availability": p["availability"]}
    volume = _api(env).create(name, driver=p["driver"], driver_opts=kv_map(p["opt"]),
                              labels=kv_map(p["label"]), cluster_spec=cluster)
    env.out(f"{volume.get('Name', '')}\n")
    return 0


# --- volume ls ---------------------------------------------------------------------------


def spec_volume_ls(path: str) -> CommandSpec:
    return CommandSpec(
        path, "ls [OPTIONS]", "List volumes",
        flags=[
            Flag("cluster", "Display only cluster volumes, and use cluster volume list "
                 "formatting", hidden=True),
            filter_flag('Provide filter values (e.g. "dangling=true")'),
            Flag("format", FORMAT_HELP, kind="string"),
            Flag("quiet", "Only display volume names", short="q"),
        ],
        max_args=0,
        aliases=f"{PROG} volume ls, {PROG} volume list",
    )


def volume_format(source: str, quiet: bool) -> str:
    """Docker's ``NewVolumeFormat``."""
    if source == "table":
        return _QUIET if quiet else _DEFAULT_TABLE
    if source == "raw":
        return "name: {{.Name}}" if quiet else "name: {{.Name}}\\ndriver: {{.Driver}}\\n"
    return source


def run_volume_ls(env: Env, p: Parsed) -> int:
    from ketch.cli.contexts import VOLUME_HEADERS, VolumeContext
    from ketch.cli.formatter import render_rows

    listing = _api(env).list(filters_of(p["filter"]))
    volumes = list(listing.get("Volumes") or [])
    fmt = p["format"]
    if p["cluster"]:
        volumes = [v for v in volumes if v.get("ClusterVolume")]
        fmt = "table" if p["quiet"] else _CLUSTER_TABLE
    elif not fmt:
        fmt = "table"
    rows = [VolumeContext(v) for v in natural_sorted(volumes)]
    env.out(render_rows(volume_format(fmt, p["quiet"]), rows, VOLUME_HEADERS))
    return 0


# --- volume inspect -------------------------------------------------------------------


def spec_volume_inspect(path: str) -> CommandSpec:
    return inspect_spec(path, "volume")


def run_volume_inspect(env: Env, p: Parsed) -> int:
    api = _api(env)

    def fetch(name: str) -> tuple[bytes, Schema | None]:
        return api.inspect_raw(name), (VOLUME_INSPECT, "volume.Volume")

    return inspect_objects(env, p.args, p["format"], fetch)


# --- volume rm -------------------------------------------------------------------------


def spec_volume_rm(path: str, use: str = "rm [OPTIONS] VOLUME [VOLUME...]") -> CommandSpec:
    return CommandSpec(
        path, use,
        "Remove one or more volumes. You cannot remove a volume that is in use by a container.",
        flags=[Flag("force", "Force the removal of one or more volumes", short="f")],
        min_args=1,
        aliases=f"{PROG} volume rm, {PROG} volume remove",
    )


def run_volume_rm(env: Env, p: Parsed) -> int:
    from ketch.cli.messages import daemon_error_text
    from ketch.errors import KetchError

    api = _api(env)
    errors: list[str] = []
    for name in p.args:
        try:
            api.remove(name, force=p["force"])
        except KetchError as exc:
            errors.append(daemon_error_text(exc))
            continue
        env.out(f"{name}\n")
    if errors:
        env.stdout.flush()
        env.err("\n".join(errors) + "\n")
        return 1
    return 0


# --- volume prune ----------------------------------------------------------------------


_ANONYMOUS_WARNING = ("WARNING! This will remove anonymous local volumes not used by at least "
                      "one container.\nAre you sure you want to continue?")
_ALL_WARNING = ("WARNING! This will remove all local volumes not used by at least one "
                "container.\nAre you sure you want to continue?")


def spec_volume_prune(path: str) -> CommandSpec:
    return prune_spec(path, "Remove unused local volumes", "label=<label>", [
        Flag("all", "Remove all unused volumes, not just anonymous ones", short="a")])


def run_volume_prune(env: Env, p: Parsed) -> int:
    from ketch.client.client import version_tuple

    filters = filters_of(p["filter"])
    warning = _ANONYMOUS_WARNING
    if version_tuple(env.client.api_version) >= (1, 42):
        if p["all"]:
            if "all" in filters:
                raise UsageError(
                    "conflicting options: cannot specify both --all and --filter all=1")
            filters["all"] = ["true"]
            warning = _ALL_WARNING
    else:
        warning = _ALL_WARNING  # older daemons prune named volumes too
    if not prune_confirmed(env, p, warning):
        return 0
    report = _api(env).prune(filters)
    print_pruned(env, "Volumes", list(report.get("VolumesDeleted") or []),
                 int(report.get("SpaceReclaimed") or 0))
    return 0
