"""The ``local`` volume driver: a directory per volume under the data root.

Layout, as Docker's local driver::

    <data-root>/volumes/<name>/         mode 0701, the volume's root
    <data-root>/volumes/<name>/_data    mode 0755, what containers see

A volume created with driver options (``type``, ``device``, ``o``) gets
that filesystem mounted on ``_data`` when a container first needs it, and
unmounted when the last one is done (the service counts the users). The
``size`` option (a quota) is refused, as Docker refuses it without quota
support.

Removal renames the volume's root to a ``.removing-*`` name first (names
of volumes cannot start with a dot), so that a crash half-way through a
delete never leaves a half-deleted volume behind: the next start finishes
the job. Nothing is deleted while anything is still mounted below it.

The methods block (mkdir, mount, tree walks); call them from a worker thread.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from ketch import sizes
from ketch.errors import Conflict, InternalError, InvalidArgument
from ketch.fsutil import tree_size
from ketch.volumes import sysmount
from ketch.volumes.model import VolumeRecord

DATA_DIR = "_data"
TRASH_PREFIX = ".removing-"
NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(NAME_CHARS + "+")

VALID_OPTIONS = ("type", "o", "device", "size")
#: option -> the options it needs, checked in this order
MANDATORY_OPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("device", ("type",)),
    ("type", ("device",)),
    ("o", ("device", "type")),
)


def validate_name(name: str) -> None:
    """Docker's rule for local volume names; the message is Docker's."""
    if len(name) == 1:
        raise InvalidArgument(
            "volume name is too short, names should be at least two alphanumeric characters")
    if not _NAME.fullmatch(name):
        raise InvalidArgument(
            f'"{name}" includes invalid characters for a local volume name, only '
            f'"{NAME_CHARS}" are allowed. If you intended to pass a host directory, '
            "use absolute path")


def ram_in_bytes(value: str) -> int:
    """go-units ``RAMInBytes`` for the ``size`` option, refusing as a 400."""
    try:
        return sizes.ram_in_bytes(value)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None


def validate_options(options: Mapping[str, str] | None) -> None:
    """Docker's checks of ``docker volume create -o``; messages are Docker's."""
    if not options:
        return
    for key in options:
        if key not in VALID_OPTIONS:
            raise InvalidArgument(f'invalid option: "{key}"')
    device = options.get("device", "")
    if options.get("type") == "cifs" and device:
        try:
            port = urlsplit(device).port
        except ValueError as exc:
            raise InvalidArgument(f"error parsing mount device url: {exc}") from None
        if port is not None:
            raise InvalidArgument("port not allowed in CIFS device URL, include 'port' in 'o='")
    if "size" in options and ram_in_bytes(options["size"]) > 0:
        raise InvalidArgument("quota size requested but no quota support")
    for option, needed in MANDATORY_OPTIONS:
        if option in options:
            for other in needed:
                if other not in options:
                    raise InvalidArgument(f'missing required option: "{other}"')


def _hide_password(text: str, mount_options: str) -> str:
    for word in mount_options.split(","):
        if word.startswith("password="):
            return text.replace(word, "password=********", 1)
    return text


class LocalDriver:
    """Directories (and, with options, mounts) under ``<data-root>/volumes``."""

    name = "local"
    scope = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def setup(self) -> None:
        """Create the volumes directory; finish removals a crash interrupted."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o701)
        for entry in os.listdir(self.root):
            if entry.startswith(TRASH_PREFIX):
                self._delete_tree(self.root / entry)

    def volume_root(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise InvalidArgument(f"invalid volume name {name!r}")
        return self.root / name

    def path(self, name: str) -> Path:
        """The ``_data`` directory: the volume's Mountpoint."""
        return self.volume_root(name) / DATA_DIR

    def exists(self, name: str) -> bool:
        return self.volume_root(name).is_dir()

    def directory_names(self) -> list[str]:
        """Volumes found on disk (directories holding a ``_data``)."""
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        return sorted(e for e in entries if not e.startswith(".") and _NAME.fullmatch(e)
                      and (self.root / e / DATA_DIR).is_dir())

    def create(self, name: str) -> Path:
        """Make the volume's directories (idempotent); returns ``_data``."""
        root = self.volume_root(name)
        root.mkdir(mode=0o701, exist_ok=True)
        os.chmod(root, 0o701)
        data = root / DATA_DIR
        try:
            data.mkdir(mode=0o755)
            os.chmod(data, 0o755)
        except FileExistsError:
            if not data.is_dir() or data.is_symlink():
                raise InternalError(f"volume {name}: {data} is not a directory") from None
        return data

    # -- mounts ------------------------------------------------------------------

    def is_mounted(self, name: str) -> bool:
        return sysmount.is_mount_point(self.path(name))

    def mount(self, volume: VolumeRecord) -> None:
        """Mount the volume's filesystem on ``_data`` unless it already is."""
        if not volume.needs_mount or self.is_mounted(volume.name):
            return
        opts = volume.options or {}
        device = opts.get("device", "")
        if not device:
            raise InternalError("failed to mount local volume: missing device in volume options")
        mount_options = opts.get("o", "")
        try:
            sysmount.mount(device, self.path(volume.name), opts.get("type", ""), mount_options)
        except sysmount.MountError as exc:
            text = _hide_password(str(exc), mount_options)
            raise InternalError(f"failed to mount local volume: {text}") from None

    def unmount(self, volume: VolumeRecord) -> None:
        """Unmount ``_data`` if the volume mounts something there."""
        if not volume.needs_mount:
            return
        path = self.path(volume.name)
        for _ in range(16):  # stacked mounts (a crash between two mounts) go too
            if not sysmount.is_mount_point(path):
                return
            try:
                sysmount.unmount(path)
            except sysmount.MountError as exc:
                raise InternalError(str(exc)) from None
        raise InternalError(f"{path} is still mounted after 16 unmounts")

    # -- removal and size ----------------------------------------------------------

    def remove(self, volume: VolumeRecord) -> None:
        """Unmount, then delete the volume's directory; no error if it is gone."""
        root = self.volume_root(volume.name)
        self.unmount(volume)
        if not root.exists():
            return
        busy = sysmount.mounts_under(root)
        if busy:
            raise Conflict(
                f"unable to remove volume {volume.name}: {busy[0]} is still mounted")
        trash = self.root / f"{TRASH_PREFIX}{volume.name}-{secrets.token_hex(4)}"
        os.rename(root, trash)
        self._delete_tree(trash)

    def _delete_tree(self, path: Path) -> None:
        if sysmount.mounts_under(path):
            raise InternalError(f"refusing to delete {path}: something is mounted below it")
        shutil.rmtree(path, ignore_errors=False)

    def size(self, name: str) -> int:
        """Bytes in ``_data``, or -1 if it cannot be measured (Docker's convention)."""
        try:
            return tree_size(self.path(name))
        except OSError:
            return -1
