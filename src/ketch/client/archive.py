"""``/containers/{id}/archive``: stat, download and upload of container paths.

What Docker's Go client (28) sends: the path in ``path`` (``/``-separated),
``noOverwriteDirNonDir=true`` unless overwriting is allowed, and
``copyUIDGID=true`` only when asked. The stat travels in the
``X-Docker-Container-Path-Stat`` header as base64 JSON; it is returned
decoded, as the dict ``{"name", "size", "mode", "mtime", "linkTarget"}``
(``mode`` is Go's ``os.FileMode``: directory bit ``1 << 31``, symlink
``1 << 27``).
"""

from __future__ import annotations

from ketch.client.containers import check_id
from ketch.client.errors import ProtocolError

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message
    from typing import IO, Any, BinaryIO

    from ketch.client.client import Client, Response

STAT_HEADER = "X-Docker-Container-Path-Stat"
#: Go ``os.FileMode`` bits the CLI looks at.
MODE_DIR = 1 << 31
MODE_SYMLINK = 1 << 27
MODE_DEVICE = 1 << 26
MODE_IRREGULAR = 1 << 19


def decode_stat(headers: Message) -> dict[str, Any]:
    """The stat header of a response; ProtocolError with Docker's words if unreadable."""
    import base64
    import binascii
    import json

    encoded = headers.get(STAT_HEADER, "")
    try:
        raw = base64.b64decode(encoded, validate=True)
        value = json.loads(raw) if raw else None
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError(f"unable to decode container path stat header: {exc}") from None
    if value is None:
        raise ProtocolError("unable to decode container path stat header: EOF")
    if not isinstance(value, dict):
        raise ProtocolError("unable to decode container path stat header: not an object")
    return value


class ArchiveAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    def _path(self, container: str) -> str:
        return f"/containers/{check_id(container)}/archive"

    def stat_path(self, container: str, path: str) -> dict[str, Any]:
        """``HEAD .../archive?path=``: the path's stat; raises NotFound if missing."""
        resp = self.client.request("HEAD", self._path(container), params={"path": path})
        try:
            return decode_stat(resp.headers)
        finally:
            resp.close()

    def get_archive(self, container: str, path: str) -> tuple[dict[str, Any], Response]:
        """``GET .../archive?path=``: the stat and the open response carrying the tar
        (read it with ``iter_chunks``; it is closed once read)."""
        resp = self.client.request("GET", self._path(container), params={"path": path})
        try:
            found = decode_stat(resp.headers)
        except ProtocolError as exc:
            resp.close()
            raise ProtocolError(f"unable to get resource stat from response: {exc}") from None
        return found, resp

    def put_archive(self, container: str, path: str, body: IO[bytes], *,
                    copy_uid_gid: bool = False, allow_overwrite_dir_with_file: bool = False,
                    ) -> None:
        """``PUT .../archive?path=``: extract the tar read from *body* (sent
        chunked, as it is read) into directory *path* of the container."""
        params: dict[str, str | None] = {
            "path": path,
            "noOverwriteDirNonDir": None if allow_overwrite_dir_with_file else "true",
            "copyUIDGID": "true" if copy_uid_gid else None,
        }
        self.client.request("PUT", self._path(container), params=params, body=body,
                            headers={"Content-Type": "application/x-tar"}).read()


def chunk_file(chunks: Iterator[bytes]) -> BinaryIO:
    """A readable file over *chunks*, for a body produced as it is sent."""
    import io

    class ChunkFile(io.RawIOBase):
        def __init__(self) -> None:
            super().__init__()
            self.pending = b""

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            while not self.pending:
                self.pending = next(chunks, b"")
                if not self.pending:
                    return 0
            count = min(len(buffer), len(self.pending))
            buffer[:count] = self.pending[:count]
            self.pending = self.pending[count:]
            return count

    return io.BufferedReader(ChunkFile(), 1 << 20)
