"""System commands: version, info, system df, events."""

from __future__ import annotations

import os
import sys

from ketch import __version__
from ketch.cli.commands.images import FORMAT_HELP, INSPECT_FORMAT_HELP, filter_flag, filters_of
from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.errors import KetchError

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

CONTEXT = "default"


def _arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(
        machine, machine
    )


def _python_version() -> str:
    return "python" + ".".join(str(x) for x in sys.version_info[:3])


# --- version ------------------------------------------------------------------------

_VERSION_TEMPLATE = """{{with .Client -}}
Client:{{if ne .Platform nil}}{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}{{end}}
 Version:\t{{.Version}}
 API version:\t{{.APIVersion}}{{if ne .APIVersion .DefaultAPIVersion}} \
(downgraded from {{.DefaultAPIVersion}}){{end}}
 Python version:\t{{.PythonVersion}}
 OS/Arch:\t{{.Os}}/{{.Arch}}
 Context:\t{{.Context}}
{{- end}}

{{- if ne .Server nil}}{{with .Server}}

Server:{{if ne .Platform.Name ""}} {{.Platform.Name}}{{end}}
 {{- range $component := .Components}}
 {{$component.Name}}:
  {{- if eq $component.Name "Engine" }}
  Version:\t{{.Version}}
  API version:\t{{index .Details "ApiVersion"}} (minimum version {{index .Details "MinAPIVersion"}})
  Go version:\t{{index .Details "GoVersion"}}
  Git commit:\t{{index .Details "GitCommit"}}
  Built:\t{{index .Details "BuildTime"}}
  OS/Arch:\t{{index .Details "Os"}}/{{index .Details "Arch"}}
  Experimental:\t{{index .Details "Experimental"}}
  {{- else }}
  Version:\t{{$component.Version}}
  {{- $detailsOrder := getDetailsOrder $component}}
  {{- range $key := $detailsOrder}}
  {{$key}}:\t{{index $component.Details $key}}
   {{- end}}
  {{- end}}
 {{- end}}
 {{- end}}{{- end}}"""


def spec_version(path: str) -> CommandSpec:
    return CommandSpec(
        path, "version [OPTIONS]", "Show the ketch version information",
        flags=[Flag("format", INSPECT_FORMAT_HELP, short="f", kind="string")],
        max_args=0,
    )


def client_version(api_version: str) -> Any:
    from ketch.cli.goprint import GoStruct
    from ketch.client import MAX_API_VERSION

    return GoStruct("system.clientVersion", [
        ("Platform", "Platform", None, True),
        ("Version", "Version", __version__, True),
        ("APIVersion", "ApiVersion", api_version, True),
        ("DefaultAPIVersion", "DefaultAPIVersion", MAX_API_VERSION, True),
        ("PythonVersion", "PythonVersion", _python_version(), True),
        ("Os", "Os", sys.platform if sys.platform != "linux" else "linux", True),
        ("Arch", "Arch", _arch(), True),
        ("Context", "Context", CONTEXT, False),
    ])


def server_version(doc: dict[str, Any]) -> Any:
    """The daemon's /version as docker's typed ``types.Version`` (Engine component added)."""
    from ketch.cli.goprint import GoStruct
    from ketch.cli.units import reformat_date

    components = [dict(c) for c in doc.get("Components") or []]
    found_engine = False
    for comp in components:
        if comp.get("Name") == "Engine":
            found_engine = True
            details = dict(comp.get("Details") or {})
            if "BuildTime" in details:
                details["BuildTime"] = reformat_date(str(details["BuildTime"]))
            comp["Details"] = details
    if not found_engine:
        components.append({
            "Name": "Engine",
            "Version": doc.get("Version", ""),
            "Details": {
                "ApiVersion": doc.get("ApiVersion", ""),
                "MinAPIVersion": doc.get("MinAPIVersion", ""),
                "GitCommit": doc.get("GitCommit", ""),
                "GoVersion": doc.get("GoVersion", ""),
                "Os": doc.get("Os", ""),
                "Arch": doc.get("Arch", ""),
                "BuildTime": reformat_date(str(doc.get("BuildTime", ""))),
                "Experimental": "true" if doc.get("Experimental") else "false",
            },
        })
    platform = doc.get("Platform") or {"Name": ""}
    return GoStruct("*types.Version", [
        ("Platform", "Platform", {"Name": platform.get("Name", "")}, False),
        ("Components", "Components", components, True),
        ("Version", "Version", doc.get("Version", ""), False),
        ("APIVersion", "ApiVersion", doc.get("ApiVersion", ""), False),
        ("MinAPIVersion", "MinAPIVersion", doc.get("MinAPIVersion", ""), True),
        ("GitCommit", "GitCommit", doc.get("GitCommit", ""), False),
        ("GoVersion", "GoVersion", doc.get("GoVersion", ""), False),
        ("Os", "Os", doc.get("Os", ""), False),
        ("Arch", "Arch", doc.get("Arch", ""), False),
        ("KernelVersion", "KernelVersion", doc.get("KernelVersion", ""), True),
        ("Experimental", "Experimental", bool(doc.get("Experimental")), True),
        ("BuildTime", "BuildTime", doc.get("BuildTime", ""), True),
    ])


def _details_order(component: Any) -> list[str]:
    details = component.get("Details") if isinstance(component, dict) else None
    return sorted(details or {})


def run_version(env: Env, p: Parsed) -> int:
    from ketch.cli.goprint import GoStruct
    from ketch.cli.gotemplate import TemplateError, parse
    from ketch.cli.tabwriter import tabwrite
    from ketch.client import MAX_API_VERSION

    fmt = p["format"]
    text = _VERSION_TEMPLATE if not fmt else ("{{json .}}" if fmt == "json" else fmt)
    try:
        tmpl = parse(text, "version", funcs={"getDetailsOrder": _details_order})
    except TemplateError as exc:
        raise UsageError(f"template parsing error: {exc}", 64) from None
    server: Any = None
    error: KetchError | None = None
    api_version = MAX_API_VERSION
    try:
        server = server_version(env.client.system.version())
        api_version = env.client.api_version
    except KetchError as exc:
        error = exc
    data = GoStruct("system.versionInfo", [
        ("Client", "Client", client_version(api_version), False),
        ("Server", "Server", server, False),
    ])
    try:
        out = tmpl.execute(data)
        exec_error: TemplateError | None = None
    except TemplateError as exc:
        out = str(getattr(exc, "partial", ""))
        exec_error = exc
    env.out(tabwrite(out + "\n", minwidth=20, padding=1))
    if error is not None:
        raise error
    if exec_error is not None:
        raise UsageError(str(exec_error))
    return 0


# --- info ---------------------------------------------------------------------------


def spec_info(path: str) -> CommandSpec:
    return CommandSpec(
        path, "info [OPTIONS]", "Display system-wide information",
        flags=[Flag("format", INSPECT_FORMAT_HELP, short="f", kind="string")],
        max_args=0,
        aliases=f"{PROG} system info, {PROG} info",
    )


def _client_info(debug: bool) -> dict[str, Any]:
    return {
        "Debug": debug,
        "Version": __version__,
        "PythonVersion": _python_version(),
        "Os": "linux",
        "Arch": _arch(),
        "Context": CONTEXT,
        "Plugins": [],
        "Warnings": None,
    }


def _needs_server(fmt: str, client_info: dict[str, Any]) -> bool:
    import re

    from ketch.cli.gotemplate import TemplateError, parse

    if fmt in ("", "{{json .}}", "json") or not re.search(r"\.[a-zA-Z]", fmt):
        return True
    try:
        parse(fmt).execute({"ClientInfo": client_info}, missingkey_error=True)
    except TemplateError:
        return True
    return False


def run_info(env: Env, p: Parsed) -> int:
    from ketch.client import ConnectionFailed

    fmt = p["format"]
    client_info = _client_info(env.debug)
    server: dict[str, Any] | None = {}
    server_errors: list[str] = []
    conn_error: KetchError | None = None
    if _needs_server(fmt, client_info):
        try:
            server = env.client.system.info()
        except ConnectionFailed as exc:
            conn_error = exc
            if not fmt:
                server = None
        except KetchError as exc:
            from ketch.cli.messages import daemon_error_text

            if not fmt:
                server = None
            server_errors.append(daemon_error_text(exc))
            if fmt:
                env.err(daemon_error_text(exc) + "\n")
    if not fmt:
        return _pretty_info(env, client_info, server, server_errors, conn_error)
    from ketch.cli.gotemplate import TemplateError, parse

    data: dict[str, Any] = dict(server or {})
    if server_errors:
        data["ServerErrors"] = server_errors
    data["ClientInfo"] = client_info
    text = "{{json .}}" if fmt == "json" else fmt
    try:
        tmpl = parse(text)
    except TemplateError as exc:
        if conn_error is not None:
            raise conn_error from None
        raise UsageError(f"template parsing error: {exc}", 64) from None
    try:
        env.out(tmpl.execute(data) + "\n")
    except TemplateError as exc:
        env.out(str(getattr(exc, "partial", "")) + "\n")
        if conn_error is not None:
            raise conn_error from None
        raise UsageError(str(exc)) from None
    if conn_error is not None:
        raise conn_error
    return 0


def _go_bool(value: Any) -> str:
    return "true" if value else "false"


def _mask_bits(mask: Any) -> int:
    import base64

    try:
        raw = base64.b64decode(str(mask))
    except ValueError:
        return 0
    return sum(bin(b).count("1") for b in raw)


def _pretty_info(env: Env, client: dict[str, Any], server: dict[str, Any] | None,
                 server_errors: list[str], conn_error: KetchError | None) -> int:
    from ketch.cli import units

    lines = ["Client:", f" Version:    {client['Version']}", f" Context:    {client['Context']}",
             f" Debug Mode: {_go_bool(client['Debug'])}", "", "Server:"]
    out = lines
    if server is not None:
        i = server

        def add(label: str, value: Any) -> None:
            out.append(f"{label} {value}")

        def add_nonempty(label: str, value: Any) -> None:
            if value:
                out.append(f"{label} {value}")

        add(" Containers:", i.get("Containers", 0))
        add("  Running:", i.get("ContainersRunning", 0))
        add("  Paused:", i.get("ContainersPaused", 0))
        add("  Stopped:", i.get("ContainersStopped", 0))
        add(" Images:", i.get("Images", 0))
        add_nonempty(" Server Version:", i.get("ServerVersion"))
        add_nonempty(" Storage Driver:", i.get("Driver"))
        for pair in i.get("DriverStatus") or []:
            out.append(f"  {pair[0]}: {pair[1]}")
        for pair in i.get("SystemStatus") or []:
            out.append(f" {pair[0]}: {pair[1]}")
        add_nonempty(" Logging Driver:", i.get("LoggingDriver"))
        add_nonempty(" Cgroup Driver:", i.get("CgroupDriver"))
        add_nonempty(" Cgroup Version:", i.get("CgroupVersion"))
        plugins = i.get("Plugins") or {}
        out.append(" Plugins:")
        add("  Volume:", " ".join(plugins.get("Volume") or []))
        add("  Network:", " ".join(plugins.get("Network") or []))
        if plugins.get("Authorization"):
            add("  Authorization:", " ".join(plugins["Authorization"]))
        add("  Log:", " ".join(plugins.get("Log") or []))
        if i.get("CDISpecDirs"):
            out.append(" CDI spec directories:")
            out.extend(f"  {d}" for d in i["CDISpecDirs"])
        if i.get("DiscoveredDevices"):
            out.append(" Discovered Devices:")
            out.extend(f"  {d.get('Source', '')}: {d.get('ID', '')}"
                       for d in i["DiscoveredDevices"])
        swarm = i.get("Swarm") or {}
        state = swarm.get("LocalNodeState", "")
        add(" Swarm:", state)
        if state not in ("inactive", "locked", ""):
            add("  NodeID:", swarm.get("NodeID", ""))
            if swarm.get("Error"):
                add("  Error:", swarm["Error"])
            add("  Is Manager:", _go_bool(swarm.get("ControlAvailable")))
            add("  Node Address:", swarm.get("NodeAddr", ""))
        runtimes = i.get("Runtimes") or {}
        if runtimes:
            add(" Runtimes:", " ".join(runtimes))
            add(" Default Runtime:", i.get("DefaultRuntime", ""))
        if i.get("OSType") == "linux":
            add(" Init Binary:", i.get("InitBinary", ""))
            add(" containerd version:", (i.get("ContainerdCommit") or {}).get("ID", ""))
            add(" runc version:", (i.get("RuncCommit") or {}).get("ID", ""))
            add(" init version:", (i.get("InitCommit") or {}).get("ID", ""))
            security = i.get("SecurityOptions") or []
            if security:
                out.append(" Security Options:")
                for opt in security:
                    name, profile = _security_option(str(opt))
                    out.append("  " + name)
                    if profile is not None:
                        out.append(f"   Profile: {profile}")
        if i.get("OSType") == "windows":
            add(" Default Isolation:", i.get("Isolation", ""))
        add_nonempty(" Kernel Version:", i.get("KernelVersion"))
        add_nonempty(" Operating System:", i.get("OperatingSystem"))
        add_nonempty(" OSType:", i.get("OSType"))
        add_nonempty(" Architecture:", i.get("Architecture"))
        add(" CPUs:", i.get("NCPU", 0))
        add(" Total Memory:", units.bytes_size(float(i.get("MemTotal") or 0)))
        add_nonempty(" Name:", i.get("Name"))
        add_nonempty(" ID:", i.get("ID"))
        add(" Docker Root Dir:", i.get("DockerRootDir", ""))
        add(" Debug Mode:", _go_bool(i.get("Debug")))
        if i.get("Debug") or env.debug:
            add("  File Descriptors:", i.get("NFd", 0))
            add("  Goroutines:", i.get("NGoroutines", 0))
            add("  System Time:", i.get("SystemTime", ""))
            add("  EventsListeners:", i.get("NEventsListener", 0))
        add_nonempty(" HTTP Proxy:", i.get("HttpProxy"))
        add_nonempty(" HTTPS Proxy:", i.get("HttpsProxy"))
        add_nonempty(" No Proxy:", i.get("NoProxy"))
        if i.get("Labels"):
            out.append(" Labels:")
            out.extend("  " + label for label in i["Labels"])
        add(" Experimental:", _go_bool(i.get("ExperimentalBuild")))
        registry = i.get("RegistryConfig") or {}
        cidrs = registry.get("InsecureRegistryCIDRs") or []
        index_configs = registry.get("IndexConfigs") or {}
        if cidrs or index_configs:
            out.append(" Insecure Registries:")
            for cfg in index_configs.values():
                if not cfg.get("Secure"):
                    out.append("  " + str(cfg.get("Name", "")))
            for cidr in cidrs:
                if isinstance(cidr, dict):
                    out.append(f"  {cidr.get('IP', '')}/{_mask_bits(cidr.get('Mask'))}")
                else:
                    out.append(f"  {cidr}")
        if registry.get("Mirrors"):
            out.append(" Registry Mirrors:")
            out.extend("  " + m for m in registry["Mirrors"])
        add(" Live Restore Enabled:", _go_bool(i.get("LiveRestoreEnabled")))
        if i.get("ProductLicense"):
            add(" Product License:", i["ProductLicense"])
        pools = i.get("DefaultAddressPools") or []
        if pools:
            out.append(" Default Address Pools:")
            out.extend(f"   Base: {pool.get('Base', '')}, Size: {pool.get('Size', 0)}"
                       for pool in pools)
        out.append("")
    env.out("\n".join(out) + "\n")
    env.stdout.flush()
    if server is not None:
        for warning in server.get("Warnings") or []:
            env.err(f"{warning}\n")
    for err in server_errors:
        env.err(f"ERROR: {err}\n")
    if conn_error is not None:
        raise conn_error
    if server_errors:
        raise UsageError("errors pretty printing info")
    return 0


def _security_option(opt: str) -> tuple[str, str | None]:
    """``name=seccomp,profile=default`` -> (seccomp, default); legacy ``apparmor`` as is."""
    if "=" not in opt:
        return opt, None
    name = ""
    profile: str | None = None
    for part in opt.split(","):
        key, _, value = part.partition("=")
        if key == "name":
            name = value
        elif key == "profile":
            profile = value
    return name, profile


# --- system df --------------------------------------------------------------------------


def spec_df(path: str) -> CommandSpec:
    return CommandSpec(
        path, "df [OPTIONS]", "Show ketch disk usage",
        flags=[
            Flag("format", FORMAT_HELP, kind="string"),
            Flag("verbose", "Show detailed information on space usage", short="v"),
        ],
        max_args=0,
    )


_DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
_DF_IMAGES = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t"
              "{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}")
_DF_CONTAINERS = ("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t"
                  "{{.RunningFor}}\t{{.Status}}\t{{.Names}}")
_DF_VOLUMES = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
_DF_BUILD_CACHE = ("table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t"
                   "{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}")
_DF_RAW = ("type: {{.Type}}\ntotal: {{.TotalCount}}\nactive: {{.Active}}\nsize: {{.Size}}\n"
           "reclaimable: {{.Reclaimable}}\n")


def run_df(env: Env, p: Parsed) -> int:
    from ketch.cli import contexts as ctx
    from ketch.cli.formatter import render_rows

    du = env.client.system.df()
    fmt = p["format"] or "table"
    records = list(du.get("BuildCache") or [])
    builder_size = sum(int(r.get("Size") or 0) for r in records if not r.get("Shared"))
    images = list(du.get("Images") or [])
    containers = list(du.get("Containers") or [])
    volumes = list(du.get("Volumes") or [])
    if not p["verbose"]:
        if fmt == "table":
            fmt = _DF_TABLE
        elif fmt == "raw":
            fmt = _DF_RAW
        rows = [ctx.ImagesUsage(int(du.get("LayersSize") or 0), images),
                ctx.ContainersUsage(containers), ctx.VolumesUsage(volumes),
                ctx.BuildCacheUsage(builder_size, records)]
        env.out(render_rows(fmt, rows, ctx.DISK_USAGE_HEADERS))
        return 0
    verbose = _verbose_rows(images, containers, volumes, records, trunc=fmt.startswith("table"))
    if fmt == "table":
        parts = ["Images space usage:\n\n",
                 render_rows(_DF_IMAGES, verbose.images, ctx.IMAGE_HEADERS),
                 "\nContainers space usage:\n\n",
                 render_rows(_DF_CONTAINERS, verbose.containers, ctx.CONTAINER_HEADERS),
                 "\nLocal Volumes space usage:\n\n",
                 render_rows(_DF_VOLUMES, verbose.volumes, ctx.VOLUME_HEADERS),
                 f"\nBuild cache usage: {_human(builder_size)}\n\n",
                 render_rows(_DF_BUILD_CACHE, verbose.build_cache, ctx.BUILD_CACHE_HEADERS)]
        env.out("".join(parts))
        return 0
    from ketch.cli.formatter import FormatError, final_template
    from ketch.cli.gotemplate import TemplateError, parse

    try:
        env.out(parse(final_template(fmt)).execute(verbose))
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None
    return 0


def _human(size: int) -> str:
    from ketch.cli.units import human_size

    return human_size(size)


def _verbose_rows(images: list[dict[str, Any]], containers: list[dict[str, Any]],
                  volumes: list[dict[str, Any]], records: list[dict[str, Any]],
                  trunc: bool) -> Any:
    from ketch.cli import contexts as ctx
    from ketch.cli.reference import ReferenceError, parse_normalized_named

    image_rows: list[ctx.ImageContext] = []
    for img in images:
        repo = tag = ctx.NONE
        tags = img.get("RepoTags") or []
        if tags and not ctx.is_dangling(img):
            try:
                ref = parse_normalized_named(tags[0])
            except ReferenceError:
                continue
            if ref.tag:
                repo, tag = ref.familiar_name, ref.tag
        image_rows.append(ctx.ImageContext(img, repo, tag, "", trunc))
    container_rows = [ctx.ContainerContext(dict(c, SizeRootFs=0), trunc) for c in containers]
    volume_rows = [ctx.VolumeContext(v) for v in volumes]

    def cache_key(r: dict[str, Any]) -> tuple[int, float, str]:
        last = ctx.parse_api_time(r.get("LastUsedAt"))
        return (0 if last is None else 1, last or 0.0, str(r.get("ID") or ""))

    cache_rows = [ctx.BuildCacheContext(r, trunc) for r in sorted(records, key=cache_key)]
    return ctx.DiskUsageVerbose(image_rows, container_rows, volume_rows, cache_rows)


# --- events -------------------------------------------------------------------------------


def spec_events(path: str) -> CommandSpec:
    return CommandSpec(
        path, "events [OPTIONS]", "Get real time events from the server",
        flags=[
            filter_flag(),
            Flag("format", INSPECT_FORMAT_HELP, kind="string"),
            Flag("since", "Show all events created since timestamp", kind="string"),
            Flag("until", "Stream events until this timestamp", kind="string"),
        ],
        max_args=0,
        aliases=f"{PROG} system events, {PROG} events",
    )


def event_struct(doc: dict[str, Any]) -> Any:
    """An event as docker's typed ``events.Message``: Go field names, json tags."""
    from ketch.cli.goprint import GoStruct

    actor = doc.get("Actor") or {}
    return GoStruct("*events.Message", [
        ("Status", "status", doc.get("status", ""), True),
        ("ID", "id", doc.get("id", ""), True),
        ("From", "from", doc.get("from", ""), True),
        ("Type", "Type", doc.get("Type", ""), False),
        ("Action", "Action", doc.get("Action", ""), False),
        ("Actor", "Actor", GoStruct("events.Actor", [
            ("ID", "ID", actor.get("ID", ""), False),
            ("Attributes", "Attributes", actor.get("Attributes") or {}, False),
        ]), False),
        ("Scope", "scope", doc.get("scope", ""), True),
        ("Time", "time", int(doc.get("time") or 0), True),
        ("TimeNano", "timeNano", int(doc.get("timeNano") or 0), True),
    ])


def pretty_event(doc: dict[str, Any]) -> str:
    from ketch.cli.units import rfc3339_nano_fixed

    out = ""
    if doc.get("timeNano"):
        out += rfc3339_nano_fixed(int(doc["timeNano"])) + " "
    elif doc.get("time"):
        out += rfc3339_nano_fixed(int(doc["time"]) * 1_000_000_000) + " "
    actor = doc.get("Actor") or {}
    out += f"{doc.get('Type', '')} {doc.get('Action', '')} {actor.get('ID', '')}"
    attrs = actor.get("Attributes") or {}
    if attrs:
        out += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return out + "\n"


def run_events(env: Env, p: Parsed) -> int:
    from ketch.cli.gotemplate import Template, TemplateError, parse
    from ketch.cli.timestamps import get_timestamp

    fmt = p["format"]
    tmpl: Template | None = None
    if fmt:
        try:
            tmpl = parse("{{json .}}" if fmt == "json" else fmt)
            tmpl.execute(event_struct({}))
        except TemplateError as exc:
            raise UsageError(f"Error parsing format: {exc}", 64) from None
    try:
        since = get_timestamp(p["since"]) if p["since"] else None
        until = get_timestamp(p["until"]) if p["until"] else None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for event in env.client.system.events(since=since, until=until,
                                          filters=filters_of(p["filter"])):
        if tmpl is None:
            env.out(pretty_event(event))
        else:
            try:
                env.out(tmpl.execute(event_struct(event)) + "\n")
            except TemplateError as exc:
                env.out(str(getattr(exc, "partial", "")) + "\n")
                raise UsageError(str(exc)) from None
        env.stdout.flush()
    return 0
