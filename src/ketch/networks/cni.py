"""The CNI exec protocol: run a plugin with ``CNI_*`` variables and the
network configuration on stdin, read its JSON result or error.

ketch decides every address itself, so a bridge endpoint is the ``bridge``
plugin with the ``static`` IPAM plugin given exactly the address chosen;
``loopback`` brings ``lo`` up. DEL is sent the same configuration as ADD.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ketch.errors import InternalError
from ketch.networks.hostcmd import run

CNI_VERSION = "1.0.0"


class CNIError(InternalError):
    pass


def invoke(plugin_dir: Path, command: str, config: dict[str, Any], *, container_id: str,
           netns: str, ifname: str) -> dict[str, Any]:
    """Run ``config["type"]`` for ADD/DEL/CHECK; the decoded result (``{}`` if none)."""
    plugin = plugin_dir / str(config["type"])
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "CNI_COMMAND": command, "CNI_CONTAINERID": container_id, "CNI_NETNS": netns,
        "CNI_IFNAME": ifname, "CNI_PATH": str(plugin_dir),
    }
    proc = run([str(plugin)], input=json.dumps(config).encode(), env=env, check=False)
    out = proc.stdout.decode(errors="replace").strip()
    if proc.returncode != 0:
        message = out or proc.stderr.decode(errors="replace").strip()
        try:
            doc = json.loads(out)
            message = doc.get("msg", message)
            if doc.get("details"):
                message += f": {doc['details']}"
        except ValueError:
            pass
        raise CNIError(f"CNI {config['type']} {command} failed: {message}")
    if not out:
        return {}
    result: dict[str, Any] = json.loads(out)
    return result


def loopback_config() -> dict[str, Any]:
    return {"cniVersion": CNI_VERSION, "name": "lo", "type": "loopback"}


def bridge_config(*, network: str, bridge: str, addresses: list[tuple[str, str]],
                  default_route: bool, mtu: int = 0, mac: str = "") -> dict[str, Any]:
    """A ``bridge`` plugin configuration with ``static`` IPAM.

    *addresses* are ``(address/prefix, gateway)`` pairs (IPv4 and/or IPv6);
    without *default_route* (internal networks) the container gets only its
    subnet's route, as with Docker.
    """
    routes: list[dict[str, str]] = []
    if default_route:
        for address, gateway in addresses:
            if gateway:
                routes.append({"dst": "::/0" if ":" in address else "0.0.0.0/0",
                               "gw": gateway})
    conf: dict[str, Any] = {
        "cniVersion": CNI_VERSION, "name": network, "type": "bridge", "bridge": bridge,
        "isGateway": False, "ipMasq": False, "hairpinMode": True,
        "ipam": {
            "type": "static",
            "addresses": [{"address": a, **({"gateway": g} if g else {})}
                          for a, g in addresses],
            "routes": routes,
        },
    }
    if mtu:
        conf["mtu"] = mtu
    if mac:
        conf["capabilities"] = {"mac": True}
        conf["runtimeConfig"] = {"mac": mac}
    return conf
