"""``ketch-registry``: ``serve`` the registry, or ``gc`` its storage."""

from __future__ import annotations

import argparse
import logging
import ssl
import sys
import tomllib

from aiohttp import web

from ketch.registry.config import RegistryConfig, load_config, validate


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ketch-registry",
                                     description="OCI Distribution registry server")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the registry")
    serve.add_argument("--addr", help="HOST:PORT to listen on (default 127.0.0.1:5000)")
    serve.add_argument("--root", help="storage directory")
    serve.add_argument("--config", help="TOML configuration file")
    serve.add_argument("--tls-cert")
    serve.add_argument("--tls-key")
    serve.add_argument("--htpasswd", help="htpasswd file (bcrypt); implies --auth htpasswd")
    serve.add_argument("--auth", choices=["none", "htpasswd", "token"])
    serve.add_argument("--pull-only", action="append", default=[], metavar="USER",
                       help="htpasswd user that may only pull (repeatable)")
    serve.add_argument("--anonymous-pull", action="store_true")
    serve.add_argument("--token-realm")
    serve.add_argument("--token-service")
    serve.add_argument("--token-issuer")
    serve.add_argument("--token-key", help="PEM EC private key of the built-in token issuer")
    serve.add_argument("--token-public-key", action="append", default=[], metavar="PEM",
                       help="public key of an external token issuer (repeatable)")
    serve.add_argument("--read-only", action="store_true")
    serve.add_argument("--delete-enabled", action="store_true")
    serve.add_argument("--upload-max-age", type=float, help="seconds before uploads are purged")
    serve.add_argument("--log-level", default="info")
    gc = sub.add_parser("gc", help="delete blobs no manifest references")
    gc.add_argument("--root")
    gc.add_argument("--config")
    gc.add_argument("--dry-run", action="store_true")
    gc.add_argument("--delete-untagged", action="store_true")
    return parser


def _configure(args: argparse.Namespace) -> RegistryConfig:
    config = load_config(args.config)
    if args.root:
        config.root = args.root
    if args.command != "serve":
        return config
    auth = config.auth
    for attr, value in (("addr", args.addr), ("tls_cert", args.tls_cert),
                        ("tls_key", args.tls_key), ("upload_max_age", args.upload_max_age)):
        if value is not None:
            setattr(config, attr, value)
    config.read_only = config.read_only or args.read_only
    config.delete_enabled = config.delete_enabled or args.delete_enabled
    if args.htpasswd:
        auth.htpasswd = args.htpasswd
        if auth.mode == "none":
            auth.mode = "htpasswd"
    if args.auth:
        auth.mode = args.auth
    auth.pull_only += args.pull_only
    auth.anonymous_pull = auth.anonymous_pull or args.anonymous_pull
    token = auth.token
    for attr, value in (("realm", args.token_realm), ("service", args.token_service),
                        ("issuer", args.token_issuer), ("private_key", args.token_key)):
        if value is not None:
            setattr(token, attr, value)
    token.public_keys += args.token_public_key
    validate(config)
    return config


def _serve(config: RegistryConfig) -> None:
    from ketch.registry.app import build_app

    host, _, port = config.addr.rpartition(":")
    ssl_context = None
    if config.tls_cert and config.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
    app = build_app(config)
    logging.getLogger("ketch.registry").info(
        "ketch-registry listening on %s://%s (root %s)",
        "https" if ssl_context else "http", config.addr, config.root)
    web.run_app(app, host=host.strip("[]") or "0.0.0.0", port=int(port),
                ssl_context=ssl_context, print=None, access_log=None)


def _gc(config: RegistryConfig, dry_run: bool, delete_untagged: bool) -> None:
    from ketch.registry.fsdriver import FilesystemDriver
    from ketch.registry.gc import collect
    from ketch.registry.storage import RegistryStorage

    storage = RegistryStorage(FilesystemDriver(config.root))
    report = collect(storage, dry_run=dry_run, delete_untagged=delete_untagged)
    verb = "would delete" if dry_run else "deleted"
    for manifest in report.deleted_manifests:
        print(f"{verb} manifest {manifest}")
    for blob in report.deleted_blobs:
        print(f"{verb} blob {blob}")
    print(f"{len(report.marked)} blobs marked, {len(report.deleted_blobs)} blobs "
          f"and {len(report.deleted_manifests)} manifests {verb.split()[-1]}"
          + (" (dry run)" if dry_run else ""))


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    try:
        config = _configure(args)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        print(f"ketch-registry: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.command == "serve":
        logging.basicConfig(level=args.log_level.upper(),
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        _serve(config)
    else:
        _gc(config, args.dry_run, args.delete_untagged)


if __name__ == "__main__":
    main()
