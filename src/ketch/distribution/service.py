"""Pull, push, login check and remote inspect: the daemon's registry client.

Each operation opens its own HTTP session and :class:`RegistryClient`, so
credentials and tokens never leak from one request to another. Errors found
before any progress is reported (unknown manifest, access denied) are raised
before the first message, which the API turns into a plain HTTP error, as
Docker does.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from ketch.distribution.auth import Credentials, repository_scope
from ketch.distribution.client import RegistryClient
from ketch.distribution.endpoint import (
    Endpoint,
    endpoint_for,
    endpoint_for_domain,
    login_domain,
    mirror_endpoint,
)
from ketch.distribution.layercache import LayerCache
from ketch.distribution.messages import Emit, Message, run_with_messages
from ketch.distribution.pull import PlatformWanted, Puller, resolve_manifest
from ketch.distribution.push import PushedManifest, Pusher
from ketch.errors import Forbidden, InvalidArgument, KetchError, NotFound, Unauthorized
from ketch.images.model import Image
from ketch.images.service import ImageService
from ketch.images.transfer import host_architecture
from ketch.oci import mediatypes
from ketch.oci.digest import is_digest
from ketch.oci.image import decode_config, decode_index
from ketch.oci.reference import (
    DEFAULT_DOMAIN,
    Reference,
    parse_normalized,
    parse_with_default_tag,
    validate_tag,
)
from ketch.store.images import RefRow

log = logging.getLogger(__name__)

_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=60, sock_connect=30, sock_read=300)


@dataclass
class RegistrySettings:
    """The daemon.json knobs of the registry client."""

    insecure_registries: list[str] = field(default_factory=list)
    #: URLs (``https://mirror.example``) tried before Docker Hub for Hub pulls
    registry_mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5


@dataclass(frozen=True)
class RemoteDescriptor:
    """What ``GET /distribution/{name}/json`` reports."""

    media_type: str
    digest: str
    size: int
    platforms: list[dict[str, str]]


def pull_reference(image: str, tag: str) -> Reference:
    """``fromImage`` (which may carry a tag or digest) and ``tag`` (tag or digest)."""
    ref = parse_normalized(image)
    if tag:
        if ref.tag is not None or ref.digest is not None:
            ref = ref.repository()
        if is_digest(tag):
            return ref.with_digest(tag)
        return ref.with_tag(validate_tag(tag))
    return ref if ref.tag or ref.digest else ref.with_tag("latest")


def parse_platform(value: str) -> PlatformWanted:
    if not value:
        return PlatformWanted("linux", host_architecture())
    parts = value.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform: {value!r}")
    return PlatformWanted(parts[0], parts[1] if len(parts) > 1 else host_architecture(),
                          parts[2] if len(parts) > 2 else "")


#: private markers between _pull_one and pull (never sent to a client)
_CHANGED, _UNCHANGED = "\0changed", "\0unchanged"


@contextlib.contextmanager
def _access_errors(ref: Reference) -> Iterator[None]:
    """Docker's wording for a repository or manifest the registry will not give us."""
    try:
        yield
    except (Unauthorized, Forbidden) as exc:
        raise NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist "
            f"or may require 'docker login': {exc.message}") from None
    except NotFound as exc:
        if "manifest" in exc.message.lower() and "unknown" in exc.message.lower():
            raise NotFound(f"manifest for {ref.familiar} not found: "
                           "manifest unknown: manifest unknown") from None
        raise NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist "
            f"or may require 'docker login': {exc.message}") from None


class DistributionService:
    """The registry operations the API exposes; layers go through ImageStore,
    compressed digests through a LayerCache under ``state_dir``."""

    def __init__(self, images: ImageService, tmp_dir: Path, state_dir: Path,
                 settings: RegistrySettings | None = None) -> None:
        self.images = images
        self.tmp_dir = tmp_dir
        self.settings = settings or RegistrySettings()
        self.cache = LayerCache(state_dir / "layers")

    def _session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(timeout=_TIMEOUT, auto_decompress=False)

    def _endpoint(self, ref: Reference) -> Endpoint:
        return endpoint_for(ref, self.settings.insecure_registries)

    # -- pull -------------------------------------------------------------------------
    async def pull(self, image: str, tag: str, credentials: Credentials,
                   platform: str = "") -> AsyncIterator[Message]:
        """Pull ``image`` (``tag`` may be a tag or a digest). With neither a tag
        nor a digest anywhere, every tag of the repository is pulled (``pull -a``)."""
        named = parse_normalized(image)
        all_tags = not tag and named.tag is None and named.digest is None
        ref = named if all_tags else pull_reference(image, tag)
        wanted = parse_platform(platform)
        async with self._session() as session:
            client = await self._pull_source(session, ref, credentials)
            with _access_errors(ref):
                refs = ([ref.with_tag(t) for t in await client.list_tags(ref.path)]
                        if all_tags else [ref])
            if not refs:
                raise NotFound(f"repository {ref.familiar_name} has no tags")
            changed = False
            for one in refs:
                async for message in self._pull_one(client, one, wanted):
                    if message.status == _CHANGED:
                        changed = True
                    elif message.status != _UNCHANGED:
                        yield message
        state = "Downloaded newer image" if changed else "Image is up to date"
        yield Message(f"Status: {state} for {ref.familiar}")

    async def _pull_source(self, session: aiohttp.ClientSession, ref: Reference,
                           credentials: Credentials) -> RegistryClient:
        """A connected client for the registry to pull ``ref`` from.

        Docker Hub references try each ``registry-mirrors`` entry first and use
        the first mirror that answers and has the reference (or, for an
        all-tags pull, the repository); any failure falls through to the Hub.
        """
        scopes = [repository_scope(ref.path, "pull")]
        if ref.domain == DEFAULT_DOMAIN:
            for mirror in self.settings.registry_mirrors:
                client = RegistryClient(session, mirror_endpoint(mirror), credentials, scopes)
                try:
                    await client.connect()
                    if ref.tag is None and ref.digest is None:
                        await client.list_tags(ref.path)
                    else:
                        await client.get_manifest(ref.path, ref.digest or ref.tag or "latest")
                except KetchError as exc:
                    log.info("mirror %s cannot serve %s: %s", mirror, ref, exc.message)
                    continue
                return client
        client = RegistryClient(session, self._endpoint(ref), credentials, scopes)
        with _access_errors(ref):
            await client.connect()
        return client

    async def _pull_one(self, client: RegistryClient, ref: Reference,
                        wanted: PlatformWanted) -> AsyncIterator[Message]:
        """One reference's messages, then a private marker saying whether it changed."""
        reference = ref.digest or ref.tag or "latest"
        with _access_errors(ref):
            resolved = await resolve_manifest(client, ref.path, reference, wanted)
        yield Message(f"Pulling from {ref.path}", reference)
        before = self.images.meta.resolve_ref(str(ref))
        if ref.digest is not None:
            before = self.images.meta.resolve_ref(
                str(ref.repository().with_digest(resolved.repo_digest)))
        image_id = ""

        async def work(emit: Emit) -> None:
            nonlocal image_id
            puller = Puller(self.images, client, ref, ref.path, self.cache,
                            self.settings.max_concurrent_downloads)
            image_id = await puller.pull(resolved, emit)

        async for message in run_with_messages(work):
            yield message
        yield Message(f"Digest: {resolved.repo_digest}")
        self.images.events.emit("image", "pull", ref.familiar, name=ref.familiar)
        yield Message(_UNCHANGED if before == image_id else _CHANGED)

    # -- push -------------------------------------------------------------------------
    def _push_targets(self, name: str, tag: str) -> list[Reference]:
        ref = parse_normalized(name)
        if ref.digest is not None:
            raise InvalidArgument("cannot push a digest reference")
        if tag:
            return [ref.repository().with_tag(validate_tag(tag))]
        if ref.tag is not None:
            return [ref]
        tagged = [
            parsed for row in self.images.meta.refs()
            if row.kind == "tag" and (parsed := parse_normalized(row.ref)).name == ref.name]
        if not tagged:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        return tagged

    async def push(self, name: str, tag: str,
                   credentials: Credentials) -> AsyncIterator[Message]:
        targets = self._push_targets(name, tag)
        repo = targets[0].repository()
        images: list[Image] = []
        for target in targets:
            try:
                images.append(self.images.get(str(target)))
            except NotFound:
                raise NotFound(
                    f"An image does not exist locally with the tag: {target.familiar}") \
                    from None
        yield Message(f"The push refers to repository [{repo.name}]")
        store = self.images.store
        async with self._session() as session:
            client = RegistryClient(session, self._endpoint(repo), credentials,
                                    [repository_scope(repo.path, "pull,push")])
            await client.connect()
            for target, image in zip(targets, images, strict=True):
                assert target.tag is not None
                tag_name = target.tag
                result: list[PushedManifest] = []

                async def work(emit: Emit, image: Image = image, tag_name: str = tag_name,
                               result: list[PushedManifest] = result) -> None:
                    with store.lease() as lease:
                        chain = store.layer_chain(image.row.top_layer)
                        store.hold(lease, [row.chain_id for row in chain])
                        pusher = Pusher(store, client, repo.path, self.cache, self.tmp_dir,
                                        self.settings.max_concurrent_uploads)
                        result.append(await pusher.push(image, tag_name, emit))

                async for message in run_with_messages(work):
                    yield message
                pushed = result[0]
                await self._add_repo_digest(repo.with_digest(pushed.digest), image.id)
                self.images.events.emit("image", "push", target.familiar,
                                        name=target.familiar)
                yield Message(f"{tag_name}: digest: {pushed.digest} size: {pushed.size}")
                yield Message(aux={"Tag": tag_name, "Digest": pushed.digest,
                                   "Size": pushed.size})

    async def _add_repo_digest(self, ref: Reference, image_id: str) -> None:
        store = self.images.store
        async with store.lock:
            if store.meta.image(image_id) is None:
                return
            with store.meta.db.transaction() as conn:
                store.meta.set_ref(conn, RefRow(ref=str(ref), image_id=image_id, kind="digest",
                                                added_ns=time.time_ns()))

    # -- login and inspect ------------------------------------------------------------
    async def login(self, credentials: Credentials) -> None:
        """Check credentials against the registry; raises Unauthorized if refused."""
        domain = login_domain(credentials.server_address)
        endpoint = endpoint_for_domain(domain, self.settings.insecure_registries)
        async with self._session() as session:
            client = RegistryClient(session, endpoint, credentials, [])
            try:
                await client.connect()
                response = await client.request("GET", "/v2/", replayable=False)
                async with response:
                    if response.status == 401:
                        raise Unauthorized(
                            f"login attempt to {client.base}/v2/ failed with status: "
                            "401 Unauthorized")
            except Unauthorized as exc:
                message = exc.message
                if "unauthorized" not in message.lower():
                    message = f"unauthorized: {message}"
                raise Unauthorized(message) from None

    async def inspect(self, name: str, credentials: Credentials) -> RemoteDescriptor:
        ref = parse_with_default_tag(name)
        reference = ref.digest or ref.tag or "latest"
        async with self._session() as session:
            client = RegistryClient(session, self._endpoint(ref), credentials,
                                    [repository_scope(ref.path, "pull")])
            await client.connect()
            raw, media_type, digest = await client.get_manifest(ref.path, reference)
            platforms: list[dict[str, str]] = []
            if media_type in mediatypes.INDEXES:
                for entry in decode_index(raw).manifests:
                    if entry.platform is not None:
                        item = {"architecture": entry.platform.architecture,
                                "os": entry.platform.os}
                        if entry.platform.variant:
                            item["variant"] = entry.platform.variant
                        platforms.append(item)
            else:
                resolved = await resolve_manifest(client, ref.path, digest,
                                                  PlatformWanted("", ""))
                config = decode_config(await client.get_blob(
                    ref.path, resolved.manifest.config.digest, resolved.manifest.config.size))
                item = {"architecture": config.architecture, "os": config.os}
                if config.variant:
                    item["variant"] = config.variant
                platforms.append(item)
        return RemoteDescriptor(media_type or mediatypes.DOCKER_MANIFEST, digest, len(raw),
                                platforms)

