"""The container model: configuration as the client gave it, and state.

The configuration structs mirror Docker's ``Config`` and ``HostConfig``
field for field: their Python attributes are snake_case, their wire names
PascalCase (``rename="pascal"``), so decoding a create request validates
every field's type and a bad one is reported with its path
(``Expected `int`, got `str` - at `$.HostConfig.Memory```). Fields the
engine does not act on yet are still kept, so inspect shows them back.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ketch.containers.mounts import MountPoint

Status = Literal["created", "running", "paused", "restarting", "removing", "exited", "dead"]


class HealthConfig(msgspec.Struct, rename="pascal", omit_defaults=True):
    test: list[str] | None = None
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


class ContainerConfig(msgspec.Struct, rename="pascal"):
    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: dict[str, Any] | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: HealthConfig | None = None
    args_escaped: bool | None = None
    image: str = ""
    volumes: dict[str, Any] | None = None
    working_dir: str = ""
    entrypoint: list[str] | None = None
    network_disabled: bool | None = None
    mac_address: str | None = None
    on_build: list[str] | None = msgspec.field(default=None, name="OnBuild")
    labels: dict[str, str] | None = None
    stop_signal: str | None = None
    stop_timeout: int | None = None
    shell: list[str] | None = None


class LogConfig(msgspec.Struct, rename="pascal"):
    type: str = "json-file"
    config: dict[str, str] = msgspec.field(default_factory=dict)


class RestartPolicy(msgspec.Struct, rename="pascal"):
    name: str = "no"
    maximum_retry_count: int = 0


class Ulimit(msgspec.Struct, rename="pascal"):
    name: str
    soft: int
    hard: int


class HostConfig(msgspec.Struct, rename="pascal"):
    binds: list[str] | None = None
    container_id_file: str = msgspec.field(default="", name="ContainerIDFile")
    log_config: LogConfig = msgspec.field(default_factory=LogConfig)
    network_mode: str = ""
    port_bindings: dict[str, Any] | None = None
    restart_policy: RestartPolicy = msgspec.field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] | None = None
    console_size: list[int] | None = None
    annotations: dict[str, str] | None = None
    cap_add: list[str] | None = None
    cap_drop: list[str] | None = None
    cgroupns_mode: str = ""
    dns: list[str] | None = None
    dns_options: list[str] | None = None
    dns_search: list[str] | None = None
    extra_hosts: list[str] | None = None
    group_add: list[str] | None = None
    ipc_mode: str = ""
    cgroup: str = ""
    links: list[str] | None = None
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] | None = None
    storage_opt: dict[str, str] | None = None
    tmpfs: dict[str, str] | None = None
    uts_mode: str = msgspec.field(default="", name="UTSMode")
    userns_mode: str = ""
    shm_size: int = 0
    sysctls: dict[str, str] | None = None
    runtime: str = ""
    isolation: str = ""
    cpu_shares: int = 0
    memory: int = 0
    nano_cpus: int = msgspec.field(default=0, name="NanoCpus")
    cgroup_parent: str = ""
    blkio_weight: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    pids_limit: int | None = None
    ulimits: list[Ulimit] | None = None
    init: bool | None = None
    mounts: list[dict[str, Any]] | None = None
    masked_paths: list[str] | None = None
    readonly_paths: list[str] | None = None


class EndpointIPAMConfig(msgspec.Struct, omit_defaults=True):
    """The addresses asked for on one network (``--ip``, ``--ip6``)."""

    ipv4_address: str = msgspec.field(default="", name="IPv4Address")
    ipv6_address: str = msgspec.field(default="", name="IPv6Address")
    link_local_ips: list[str] | None = msgspec.field(default=None, name="LinkLocalIPs")


class EndpointConfig(msgspec.Struct, rename="pascal"):
    """One network a container is configured to join: the configuration half
    of Docker's ``EndpointSettings`` (``NetworkingConfig.EndpointsConfig``
    entries, ``docker network connect``). Addresses, gateway and endpoint ID
    are the network service's (operational data); ``NetworkID`` and
    ``DNSNames`` are kept once the container has joined, as Docker keeps them."""

    ipam_config: EndpointIPAMConfig | None = msgspec.field(default=None, name="IPAMConfig")
    links: list[str] | None = None
    aliases: list[str] | None = None
    mac_address: str = ""
    driver_opts: dict[str, str] | None = None
    gw_priority: int = 0
    network_id: str = msgspec.field(default="", name="NetworkID")
    dns_names: list[str] | None = msgspec.field(default=None, name="DNSNames")


class NetworkingConfig(msgspec.Struct, rename="pascal"):
    #: a null entry is an error Docker reports by name, hence the Optional
    endpoints_config: dict[str, EndpointConfig | None] | None = None


class CreateRequest(ContainerConfig):
    """The body of ``POST /containers/create``: Config fields at top level,
    plus HostConfig and NetworkingConfig. Old clients send Cmd and
    Entrypoint as plain strings."""

    cmd: list[str] | str | None = None  # type: ignore[assignment]
    entrypoint: list[str] | str | None = None  # type: ignore[assignment]
    host_config: HostConfig | None = None
    networking_config: NetworkingConfig | None = None

    def config(self) -> ContainerConfig:
        fields = {f: getattr(self, f) for f in ContainerConfig.__struct_fields__}
        for key in ("cmd", "entrypoint"):
            if isinstance(fields[key], str):
                fields[key] = [fields[key]]
        return ContainerConfig(**fields)


class HealthResult(msgspec.Struct, rename="pascal"):
    """One run of a healthcheck probe (an entry of ``State.Health.Log``)."""

    start_ns: int
    end_ns: int
    exit_code: int
    output: str


class Health(msgspec.Struct, rename="pascal"):
    """``State.Health``: present once a container with a healthcheck has started.

    Kept in the record (best effort, as Docker does) so a restarted daemon
    and a stopped container still show the last results."""

    status: Literal["starting", "healthy", "unhealthy"] = "starting"
    failing_streak: int = 0
    #: the last few results, oldest first
    log: list[HealthResult] = msgspec.field(default_factory=list)


class ContainerState(msgspec.Struct, rename="pascal"):
    status: Status = "created"
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at_ns: int = 0
    finished_at_ns: int = 0
    oom_killed: bool = msgspec.field(default=False, name="OOMKilled")
    restart_count: int = 0
    #: True once ``docker rm`` (or AutoRemove) has begun: the container is going
    removal_in_progress: bool = False
    #: stopped or killed through the API: restart policies leave it alone
    manually_stopped: bool = False
    #: seconds the restart policy waited last time (its backoff)
    restart_delay: float = 0.0
    #: the healthcheck's state; None if the container never ran one
    health: Health | None = None

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


class Container(msgspec.Struct):
    """One container as the service keeps it (also the database row)."""

    id: str
    name: str
    image_id: str
    created_ns: int
    config: ContainerConfig
    host_config: HostConfig
    state: ContainerState = msgspec.field(default_factory=ContainerState)
    #: the resolved command: entrypoint + cmd, as the process runs it
    path: str = ""
    args: list[str] = msgspec.field(default_factory=list)
    #: per-container files the engine manages (hostname, hosts, resolv.conf)
    hostname_path: str = ""
    hosts_path: str = ""
    resolv_conf_path: str = ""
    log_path: str = ""
    driver: str = "overlay2"
    platform: str = "linux"
    #: the networks the container joins when it starts, by network name
    #: (Docker's ``NetworkSettings.Networks`` configuration); ``{}`` once it
    #: was disconnected from all of them, None in records older than
    #: networks (their mode's network)
    networks: dict[str, EndpointConfig] | None = None
    #: volumes, binds and tmpfs mounts, with the volume names and host paths
    #: fixed at create (``docker inspect``'s ``Mounts``)
    mount_points: list[MountPoint] = msgspec.field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]
