"""What the container service needs to turn a container record into an OCI
bundle the runtime can create, and to clean up after it."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from ketch.containers.model import Container
from ketch.containers.mounts import OciMounts
from ketch.containers.networking import NetworkSetup
from ketch.images.model import Image
from ketch.runtime.base import CreateOptions


class BundleBuilder(Protocol):
    async def create(self, container: Container, image: Image) -> None:
        """Set up the container's directory and writable layer (docker create);
        fills the container's engine-managed paths (hosts, log, ...)."""
        ...

    async def mount_rootfs(self, container: Container, image: Image) -> Path:
        """Mount the root filesystem of a created container (to fill its new
        volumes from the image at create); release() unmounts it again."""
        ...

    async def prepare(self, container: Container, image: Image,
                      network: NetworkSetup | None = None,
                      mounts: OciMounts | None = None) -> CreateOptions:
        """Mount the rootfs, write /etc files and config.json (docker start);
        *network* is the namespace to join and what /etc/hosts and
        /etc/resolv.conf must say (None: a namespace of its own, loopback only);
        *mounts* the container's volumes, binds and tmpfs mounts for the spec."""
        ...

    async def update_network_files(self, container: Container, network: NetworkSetup) -> None:
        """Rewrite a running container's /etc/hosts and /etc/resolv.conf in place."""
        ...

    async def release(self, container: Container) -> None:
        """Unmount what prepare() mounted (the container stopped)."""
        ...

    async def destroy(self, container: Container) -> None:
        """Remove everything create() made (docker rm)."""
        ...

    async def exec_process(
        self, container: Container, *, args: list[str], env: list[str], user: str,
        workdir: str, tty: bool, privileged: bool, console_size: list[int] | None,
    ) -> dict[str, object]:
        """The OCI process object of an exec session in a running container:
        the container's environment, user and capabilities unless overridden."""
        ...

    async def size_rw(self, container: Container) -> int:
        """Bytes in the writable layer."""
        ...
