"""What the API layer is given: the services, behind typed application keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from ketch.build.builder import Builder
from ketch.containers.execs import ExecService
from ketch.containers.logs import LogService
from ketch.containers.service import ContainerService
from ketch.distribution.service import DistributionService
from ketch.events import EventBus
from ketch.images.commit import ImageCommitter
from ketch.images.service import ImageService
from ketch.images.transfer import ImageTransfer
from ketch.networks.service import NetworkService
from ketch.volumes.service import VolumeService


@dataclass
class Services:
    images: ImageService
    transfer: ImageTransfer
    #: new images from a parent plus a diff (commit, build steps)
    committer: ImageCommitter
    #: the classic builder (POST /build)
    builder: Builder
    events: EventBus
    containers: ContainerService
    execs: ExecService
    logs: LogService
    #: pull, push, login check and remote inspect (the registry client)
    distribution: DistributionService
    #: networks, endpoints, published ports, embedded DNS
    networks: NetworkService
    #: named and anonymous volumes (the local driver)
    volumes: VolumeService
    #: where request bodies (archives, tarballs) are spooled before use
    tmp_dir: Path
    data_root: Path
    engine_id: str
    debug: bool = False
    #: the tmpfs where build contexts are unpacked (None: they go to tmp_dir)
    build_scratch: Path | None = None


SERVICES = web.AppKey("services", Services)
