"""Container and exec endpoints of the Engine API.

Methods return the daemon's JSON as plain dicts and lists. Three kinds of
calls do not fit a plain request/response: ``wait`` returns as soon as the
daemon has sent its headers (``docker run`` asks for the wait before it
starts the container) and yields the status later; ``logs`` returns the
open response to stream from; ``attach`` and ``exec_start`` return a
hijacked two-way stream.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping, Sequence

from ketch.client.client import encode_filters, version_tuple
from ketch.client.errors import LocalError

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any

    from ketch.client.client import Client, Response
    from ketch.client.hijack import HijackedStream


def check_id(ident: str, kind: str = "container") -> str:
    """Docker's ``trimID``: names are trimmed, and an empty one is refused locally."""
    ident = ident.strip()
    if not ident:
        raise LocalError(f"invalid {kind} name or ID: value is empty")
    return ident


class WaitHandle:
    """A ``POST /containers/{id}/wait`` whose headers have arrived; ``result()`` blocks
    until the daemon writes ``{"StatusCode": n, "Error": ...}``."""

    def __init__(self, response: Response) -> None:
        self._response = response

    def result(self) -> dict[str, Any]:
        body = self._response.read()
        try:
            doc = json.loads(body)
        except ValueError:
            # Docker's client reports the undecodable text itself.
            raise LocalError(body.decode(errors="replace")) from None
        return doc if isinstance(doc, dict) else {}

    def close(self) -> None:
        self._response.close()


class ContainersAPI:
    def __init__(self, client: Client) -> None:
        self.client = client

    # -- create and lifecycle -------------------------------------------------------

    def create(self, body: Mapping[str, Any], *, name: str = "",
               platform: str = "") -> dict[str, Any]:
        """``POST /containers/create``: ``{"Id": ..., "Warnings": [...]}``."""
        params = {"name": name or None, "platform": platform or None}
        result: dict[str, Any] = self.client.post_json("/containers/create", params, body) or {}
        return result

    def start(self, ident: str) -> None:
        """``POST /containers/{id}/start`` (a 304 for a running container is not an error)."""
        self.client.request("POST", f"/containers/{check_id(ident)}/start").read()

    def _stop_params(self, timeout: int | None, signal: str) -> dict[str, str | None]:
        """``t``, and ``signal`` only where the API has it (1.42+; older daemons would
        refuse the request, so the Go client drops it)."""
        params = {"t": None if timeout is None else str(timeout), "signal": None}
        if signal and version_tuple(self.client.api_version) >= (1, 42):
            params["signal"] = signal
        return params

    def stop(self, ident: str, *, timeout: int | None = None, signal: str = "") -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/stop",
                            params=self._stop_params(timeout, signal)).read()

    def restart(self, ident: str, *, timeout: int | None = None, signal: str = "") -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/restart",
                            params=self._stop_params(timeout, signal)).read()

    def kill(self, ident: str, signal: str = "") -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/kill",
                            params={"signal": signal or None}).read()

    def remove(self, ident: str, *, force: bool = False, volumes: bool = False,
               link: bool = False) -> None:
        params = {"v": "1" if volumes else None, "link": "1" if link else None,
                  "force": "1" if force else None}
        self.client.request("DELETE", f"/containers/{check_id(ident)}", params=params).read()

    def pause(self, ident: str) -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/pause").read()

    def unpause(self, ident: str) -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/unpause").read()

    def stats(self, ident: str) -> dict[str, Any]:
        """One ``GET /containers/{id}/stats?stream=0`` object (takes a second:
        the daemon samples twice, for the CPU delta)."""
        result: dict[str, Any] = self.client.get_json(
            f"/containers/{check_id(ident)}/stats", params={"stream": "0"})
        return result

    def update(self, ident: str, config: dict[str, Any]) -> list[str]:
        """``POST /containers/{id}/update``; the daemon's warnings."""
        result = self.client.post_json(f"/containers/{check_id(ident)}/update", body=config)
        return [str(w) for w in (result or {}).get("Warnings") or []]

    def rename(self, ident: str, new_name: str) -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/rename",
                            params={"name": new_name}).read()

    def resize(self, ident: str, height: int, width: int) -> None:
        self.client.request("POST", f"/containers/{check_id(ident)}/resize",
                            params={"h": str(height), "w": str(width)}).read()

    def wait(self, ident: str, condition: str = "") -> WaitHandle:
        """Send the wait request and return once the daemon answered its headers."""
        resp = self.client.request("POST", f"/containers/{check_id(ident)}/wait",
                                   params={"condition": condition or None})
        return WaitHandle(resp)

    def prune(self, filters: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
        """``POST /containers/prune``: ``{"ContainersDeleted": [...], "SpaceReclaimed": n}``."""
        result: dict[str, Any] = self.client.post_json(
            "/containers/prune", {"filters": encode_filters(filters)}) or {}
        return result

    # -- reading ------------------------------------------------------------------------

    def list(self, *, all: bool = False, limit: int = -1, size: bool = False,
             filters: Mapping[str, Sequence[str]] | None = None,
             ) -> builtins.list[dict[str, Any]]:
        """``GET /containers/json`` (``limit`` -1: no limit)."""
        params: dict[str, str | None] = {
            "all": "1" if all else None,
            "limit": str(limit) if limit != -1 else None,
            "size": "1" if size else None,
            "filters": encode_filters(filters),
        }
        return list(self.client.get_json("/containers/json", params) or [])

    def inspect(self, ident: str, *, size: bool = False) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.inspect_raw(ident, size=size))
        return result

    def inspect_raw(self, ident: str, *, size: bool = False) -> bytes:
        """``GET /containers/{id}/json`` as the daemon's JSON bytes."""
        return self.client.get_raw(f"/containers/{check_id(ident)}/json",
                                   {"size": "1" if size else None})

    def top(self, ident: str, ps_args: Sequence[str] = ()) -> dict[str, Any]:
        """``GET /containers/{id}/top``: ``{"Titles": [...], "Processes": [[...]]}``."""
        params = {"ps_args": " ".join(ps_args) if ps_args else None}
        result: dict[str, Any] = self.client.get_json(
            f"/containers/{check_id(ident)}/top", params) or {}
        return result

    def logs(self, ident: str, *, stdout: bool = True, stderr: bool = True,
             since: str = "", until: str = "", timestamps: bool = False,
             follow: bool = False, tail: str = "all", details: bool = False) -> Response:
        """``GET /containers/{id}/logs``: the open response (framed unless the container
        has a TTY); ``since``/``until`` are already in the daemon's unix-seconds form."""
        params = {
            "stdout": "1" if stdout else None,
            "stderr": "1" if stderr else None,
            "since": since or None,
            "until": until or None,
            "timestamps": "1" if timestamps else None,
            "details": "1" if details else None,
            "follow": "1" if follow else None,
            "tail": tail,
        }
        return self.client.request("GET", f"/containers/{check_id(ident)}/logs", params=params)

    # -- streams ------------------------------------------------------------------------

    def attach(self, ident: str, *, stdin: bool = False, stdout: bool = True,
               stderr: bool = True, stream: bool = True, logs: bool = False,
               detach_keys: str = "") -> HijackedStream:
        """``POST /containers/{id}/attach``, upgraded to a raw stream."""
        from ketch.client.hijack import hijack

        params = {
            "stream": "1" if stream else None,
            "stdin": "1" if stdin else None,
            "stdout": "1" if stdout else None,
            "stderr": "1" if stderr else None,
            "detachKeys": detach_keys or None,
            "logs": "1" if logs else None,
        }
        return hijack(self.client, f"/containers/{check_id(ident)}/attach", params=params)

    def exec_create(self, ident: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /containers/{id}/exec``: ``{"Id": ...}``."""
        result: dict[str, Any] = self.client.post_json(
            f"/containers/{check_id(ident)}/exec", None, body) or {}
        return result

    def exec_start_detached(self, exec_id: str, *, tty: bool = False,
                            console_size: Sequence[int] | None = None) -> None:
        """``POST /exec/{id}/start`` with ``Detach``: returns once the process started."""
        body: dict[str, Any] = {"Detach": True, "Tty": tty}
        if console_size:
            body["ConsoleSize"] = list(console_size)
        self.client.post_json(f"/exec/{check_id(exec_id, 'exec')}/start", None, body)

    def exec_attach(self, exec_id: str, *, tty: bool = False,
                    console_size: Sequence[int] | None = None) -> HijackedStream:
        """``POST /exec/{id}/start``, upgraded to a raw stream."""
        from ketch.client.hijack import hijack

        body: dict[str, Any] = {"Detach": False, "Tty": tty}
        if console_size:
            body["ConsoleSize"] = list(console_size)
        return hijack(self.client, f"/exec/{check_id(exec_id, 'exec')}/start", body=body)

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        """``GET /exec/{id}/json``: ``ExitCode``, ``Running``, ``Pid``, ..."""
        result: dict[str, Any] = self.client.get_json(
            f"/exec/{check_id(exec_id, 'exec')}/json") or {}
        return result

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        self.client.request("POST", f"/exec/{check_id(exec_id, 'exec')}/resize",
                            params={"h": str(height), "w": str(width)}).read()
