"""Wiring: build every store and service from the configuration, and run the
start-up recovery that makes the data root consistent again after a crash."""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from ketch.api.keys import Services
from ketch.build.builder import Builder
from ketch.build.cache import BuildCache
from ketch.build.scratch import BuildScratch
from ketch.build.workspace import Workspace
from ketch.containers.execs import ExecService
from ketch.containers.local_bundle import LocalBundles
from ketch.containers.logs import K8sFileLogs, LogService
from ketch.containers.service import ContainerService
from ketch.containers.volumes import ContainerVolumes, recursive_readonly_supported
from ketch.content import ContentStore
from ketch.daemon.config import DaemonConfig
from ketch.distribution.service import DistributionService, RegistrySettings
from ketch.events import EventBus
from ketch.images.commit import ImageCommitter
from ketch.images.service import ImageService
from ketch.images.store import ImageStore
from ketch.images.transfer import ImageTransfer
from ketch.layers.store import LayerStore
from ketch.networks.config import from_daemon_settings
from ketch.networks.service import NetworkService
from ketch.runtime.conmon import ConmonRuntime
from ketch.store import Database
from ketch.store.containers import ContainerTable
from ketch.store.images import ImageMetadata
from ketch.store.networks import NetworkTable
from ketch.store.volumes import VolumeTable
from ketch.volumes.service import VolumeService

log = logging.getLogger(__name__)


@dataclass
class Engine:
    config: DaemonConfig
    db: Database
    services: Services
    scratch: BuildScratch

    def close(self) -> None:
        self.db.close()
        self.scratch.unmount()


def _engine_id(data_root: Path) -> str:
    path = data_root / "engine-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        value = str(uuid.uuid4())
        path.write_text(value + "\n")
        return value


def build_engine(config: DaemonConfig) -> Engine:
    data_root = config.data_root
    data_root.mkdir(parents=True, exist_ok=True, mode=0o710)
    config.exec_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp_dir = data_root / "tmp"
    shutil.rmtree(tmp_dir, ignore_errors=True)  # spooled uploads of a previous run
    tmp_dir.mkdir(mode=0o700)
    db = Database(data_root / "ketch.db")
    content = ContentStore(data_root / "content")
    layers = LayerStore(data_root / "layers")
    store = ImageStore(ImageMetadata(db), content, layers)
    store.collect_garbage()
    events = EventBus()
    volumes = VolumeService(VolumeTable(db), data_root / "volumes", events)
    volumes.setup()
    images = ImageService(store, events)
    bundles = LocalBundles(data_root / "containers", layers)
    runtime = ConmonRuntime(config.exec_root / "runtime")
    networks = NetworkService(
        NetworkTable(db), from_daemon_settings(config.exec_root, config.network_settings), events)
    container_volumes = ContainerVolumes(
        volumes, data_root, config.exec_root / "volume-subpaths",
        recursive_readonly=recursive_readonly_supported(runtime.runc))
    containers = ContainerService(ContainerTable(db), images, runtime, bundles, events, networks,
                                  container_volumes)
    scratch = BuildScratch(config.exec_root, config.build_scratch_size)
    committer = ImageCommitter(images, tmp_dir)
    builder = Builder(images, Workspace(containers, bundles.rootfs, layers, committer),
                      BuildCache(db), tmp_dir)
    services = Services(
        images=images, transfer=ImageTransfer(images, tmp_dir), events=events,
        committer=committer, builder=builder,
        containers=containers, execs=ExecService(containers, bundles),
        logs=LogService(containers, K8sFileLogs()),
        distribution=DistributionService(
            images, tmp_dir, data_root / "distribution", RegistrySettings(
                insecure_registries=config.insecure_registries,
                registry_mirrors=config.registry_mirrors,
                max_concurrent_downloads=config.max_concurrent_downloads,
                max_concurrent_uploads=config.max_concurrent_uploads)),
        networks=networks, volumes=volumes,
        tmp_dir=tmp_dir, data_root=data_root, engine_id=_engine_id(data_root),
        debug=config.log_level == "debug", build_scratch=scratch.mount(),
    )
    return Engine(config=config, db=db, services=services, scratch=scratch)
