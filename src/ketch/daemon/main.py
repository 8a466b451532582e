"""``ketchd`` entry point: parse flags, take the data-root lock, serve the
Engine API until SIGTERM/SIGINT, then shut down cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from ketch import __version__
from ketch.api.app import create_app
from ketch.daemon.config import DaemonConfig, build_parser, load_config
from ketch.daemon.engine import build_engine
from ketch.daemon.lock import DataRootLock
from ketch.daemon.logs import setup_logging
from ketch.errors import InvalidArgument, KetchError

log = logging.getLogger("ketchd")
SOCKET_GROUP = "ketch"


def _unix_path(host: str) -> Path:
    if host.startswith("unix://"):
        return Path(host.removeprefix("unix://"))
    if host.startswith(("tcp://", "fd://", "ssh://")):
        raise InvalidArgument(f"{host}: only unix:// sockets are supported for now")
    raise InvalidArgument(f"invalid host {host!r}: expected unix:///path/to/socket")


def _secure_socket(path: Path) -> None:
    """0660, group ``ketch`` when that group exists (Docker's ``docker`` group rule)."""
    os.chmod(path, 0o660)
    with contextlib.suppress(KeyError):
        os.chown(path, 0, grp.getgrnam(SOCKET_GROUP).gr_gid)


async def serve(config: DaemonConfig) -> None:
    sockets = [_unix_path(host) for host in config.hosts]
    engine = build_engine(config)
    services = engine.services
    # Containers still running keep their sandboxes, addresses and ports: the
    # network service needs to know which before it drops the rest, and no
    # container may start (restart policies) before the networks are back.
    alive = await services.containers.recover()
    await services.networks.start(alive)
    await services.containers.start_after_recovery()
    app = create_app(services)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0,
                           access_log=logging.getLogger("aiohttp.access"))
    await runner.setup()
    try:
        for path in sockets:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.unlink(missing_ok=True)  # stale: we hold the data-root lock
            site = web.UnixSite(runner, str(path))
            await site.start()
            _secure_socket(path)
            log.info("API listen on %s", path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info("Daemon has completed initialization (version %s)", __version__)
        await stop.wait()
        log.info("Processing signal, shutting down")
    finally:
        await services.containers.close()
        await runner.cleanup()
        await services.networks.close()
        for path in sockets:
            path.unlink(missing_ok=True)
        engine.close()
        log.info("Daemon shutdown complete")


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.version:
        print(f"ketchd version {__version__}")
        return
    lock: DataRootLock | None = None
    pidfile: Path | None = None
    try:
        config = load_config(args)
        setup_logging(config.log_level)
        config.data_root.mkdir(parents=True, exist_ok=True, mode=0o710)
        lock = DataRootLock(config.data_root)
        lock.acquire()
        pidfile = config.pidfile
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        pidfile.write_text(f"{os.getpid()}\n")
        asyncio.run(serve(config))
    except KetchError as exc:
        print(f"ketchd: {exc.message}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        print(f"ketchd: {exc}", file=sys.stderr)
        sys.exit(1)
    finally:
        if pidfile is not None and lock is not None:
            pidfile.unlink(missing_ok=True)
        if lock is not None:
            lock.release()


if __name__ == "__main__":
    main()
