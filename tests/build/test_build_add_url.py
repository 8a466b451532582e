"""``ADD <url>`` through a real ketchd, served by a loopback HTTP server of the test.

Docker's classic builder (``builder/dockerfile/copy.go``) downloads the URL
on every build into a temp file created with mode 0600, names it after the
last component of the URL's path (else the ``Content-Disposition``
filename, else ``__unnamed__``, which needs a destination that is not a
directory), sets its mtime from ``Last-Modified`` (the Unix epoch without
one), never unpacks it, and caches the step by a hash of the file's
content and header fields without its time. A status of 400 or more fails
the build with ``failed to GET <url> with status <status>: <body>``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.dockercli import docker
from support.engines import Engine, EngineSet
from support.images import OfflineImages

from .buildhelp import EngineState, docker_build, ketch, private_ketchd


@dataclass
class Page:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Site:
    """A loopback HTTP server whose pages the test sets; counts the GETs."""

    def __init__(self) -> None:
        self.pages: dict[str, Page] = {}
        self.hits: dict[str, int] = {}
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                site.hits[path] = site.hits.get(path, 0) + 1
                page = site.pages.get(path, Page(404, b"no such page"))
                self.send_response(page.status)
                for name, value in page.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(page.body)))
                self.end_headers()
                self.wfile.write(page.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def site() -> Iterator[Site]:
    served = Site()
    yield served
    served.close()


@pytest.fixture(scope="module")
def engine(engine_set: EngineSet, offline_images: OfflineImages) -> Iterator[Engine]:
    engine = private_ketchd(engine_set, offline_images)
    yield engine
    engine.stop()


LAST_MODIFIED = "Wed, 01 Jan 2020 00:00:00 GMT"
LAST_MODIFIED_EPOCH = 1_577_836_800


def _layout_site(site: Site) -> str:
    """Pages for every naming rule; the Dockerfile that ADDs them."""
    site.pages["/files/data.txt"] = Page(body=b"payload\n",
                                         headers={"Last-Modified": LAST_MODIFIED})
    site.pages["/dir/"] = Page(body=b"disposed\n", headers={
        "Content-Disposition": 'attachment; filename="from-header.bin"'})
    site.pages["/bare/"] = Page(body=b"no name at all\n")
    site.pages["/files/archive.tar"] = Page(body=_tiny_tar())
    return "\n".join([
        "FROM busybox",
        f"ADD {site.url('/files/data.txt?version=3')} /dl/",
        f"ADD {site.url('/files/data.txt')} /renamed.txt",
        f"ADD {site.url('/dir/')} /cd/",
        f"ADD {site.url('/bare/')} /unnamed",
        f"ADD {site.url('/files/archive.tar')} /arch/",
        "",
    ])


def _tiny_tar() -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("inside.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    return buf.getvalue()


STAT = "stat -c '%n %a %u:%g %Y %s' /dl/* /renamed.txt /cd/* /unnamed /arch/*"
EXPECTED_STAT = [
    f"/dl/data.txt 600 0:0 {LAST_MODIFIED_EPOCH} 8",
    f"/renamed.txt 600 0:0 {LAST_MODIFIED_EPOCH} 8",
    "/cd/from-header.bin 600 0:0 0 9",
    "/unnamed 600 0:0 0 15",
    f"/arch/archive.tar 600 0:0 0 {len(_tiny_tar())}",
]


@pytest.mark.parametrize("client", ["docker", "ketch"])
def test_add_url_names_modes_and_times_the_file_as_docker_does(
        engine: Engine, site: Site, tmp_path: Path, client: str) -> None:
    (tmp_path / "Dockerfile").write_text(_layout_site(site))
    tag = f"add-url-{client}:1"
    args = ("-t", tag, "--network", "none", str(tmp_path))
    result = docker_build(engine, *args) if client == "docker" else ketch(engine, "build", *args)
    assert result.returncode == 0, result.describe()
    try:
        run = docker(engine.env, "run", "--rm", "--network", "none", tag, "sh", "-c", STAT)
        assert run.ok().stdout.splitlines() == EXPECTED_STAT
    finally:
        docker(engine.env, "rmi", tag).ok()


@pytest.mark.refdocker
def test_add_url_result_equals_docker_20_10(
        engine: Engine, ref_busybox: Engine, site: Site, tmp_path: Path) -> None:
    """The same Dockerfile on Docker 20.10 gives the same names, modes,
    owners, times and sizes (the test's expectations are Docker's)."""
    (tmp_path / "Dockerfile").write_text(_layout_site(site))
    listings = []
    for each in (engine, ref_busybox):
        result = docker_build(each, "-t", "add-url-cmp:1", str(tmp_path))
        assert result.returncode == 0, result.describe()
        try:
            run = docker(each.env, "run", "--rm", "--network", "none", "add-url-cmp:1",
                         "sh", "-c", STAT)
            listings.append(run.ok().stdout.splitlines())
        finally:
            docker(each.env, "rmi", "add-url-cmp:1").ok()
    assert listings[0] == listings[1] == EXPECTED_STAT


def test_add_url_is_downloaded_every_build_and_cached_by_content(
        engine: Engine, site: Site, tmp_path: Path) -> None:
    """An unchanged body hits the cache, even with a new Last-Modified (the
    hash has no time in it, as Docker's); a changed body runs the step."""
    site.pages["/v.txt"] = Page(body=b"one\n", headers={"Last-Modified": LAST_MODIFIED})
    (tmp_path / "Dockerfile").write_text(
        f"FROM busybox\nADD {site.url('/v.txt')} /v.txt\nENV AFTER=1\n")

    def build() -> str:
        result = docker_build(engine, "-t", "add-url-cache:1", str(tmp_path))
        assert result.returncode == 0, result.describe()
        return result.stdout

    def content() -> str:
        return docker(engine.env, "run", "--rm", "--network", "none", "add-url-cache:1",
                      "cat", "/v.txt").ok().stdout

    try:
        first = build()
        assert "Using cache" not in first
        assert build().count("Using cache") == 2
        site.pages["/v.txt"].headers["Last-Modified"] = "Thu, 02 Jan 2020 00:00:00 GMT"
        assert build().count("Using cache") == 2
        site.pages["/v.txt"].body = b"two\n"
        changed = build()
        assert "Using cache" not in changed, changed
        assert content() == "two\n"
        assert site.hits["/v.txt"] == 4
        nocache = docker_build(engine, "--no-cache", "-t", "add-url-cache:1", str(tmp_path))
        assert nocache.returncode == 0 and "Using cache" not in nocache.stdout
    finally:
        docker(engine.env, "rmi", "add-url-cache:1").ok()
        docker(engine.env, "image", "prune", "-f").ok()


def test_add_url_404_fails_the_build_naming_url_status_and_body(
        engine: Engine, site: Site, tmp_path: Path) -> None:
    url = site.url("/missing.txt")
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url} /m.txt\n")
    before = EngineState.take(engine)
    result = docker_build(engine, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert f"failed to GET {url} with status 404 Not Found: no such page" in result.stderr, \
        result.describe()
    assert site.hits["/missing.txt"] == 1
    problems = EngineState.take(engine).changes_since(before)
    assert not problems, "\n".join(problems)


def test_add_url_error_wording_equals_docker_s(
        engine: Engine, site: Site, tmp_path: Path) -> None:
    body = "  line one\n" + "x" * 300 + "\n\n"
    site.pages["/gone"] = Page(410, body.encode())
    url = site.url("/gone")
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url} /g\n")
    result = docker_build(engine, str(tmp_path))
    assert result.returncode == 1, result.describe()
    expected = f"ADD failed: failed to GET {url} with status 410 Gone: {body.strip()}"
    assert result.stderr.rstrip("\n").endswith("\n" + expected), result.describe()


def test_add_url_without_a_name_into_a_directory_is_refused(
        engine: Engine, site: Site, tmp_path: Path) -> None:
    site.pages["/"] = Page(body=b"root page\n")
    url = site.url("/")
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url} /somewhere/\n")
    before = EngineState.take(engine)
    result = docker_build(engine, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert f"ADD failed: cannot determine filename for source {url}" in result.stderr
    problems = EngineState.take(engine).changes_since(before)
    assert not problems, "\n".join(problems)


def test_add_url_refused_connection_is_a_build_error(engine: Engine, tmp_path: Path) -> None:
    closed = Site()
    url = closed.url("/x")
    closed.close()  # nothing listens on that port now
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nADD {url} /x\n")
    result = docker_build(engine, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert url in result.stderr, result.describe()


def test_copy_of_a_url_is_refused(engine: Engine, site: Site, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nCOPY {site.url('/a')} /a\n")
    before = EngineState.take(engine)
    result = docker_build(engine, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert "source can't be a URL for COPY" in result.stderr
    assert "/a" not in site.hits
    problems = EngineState.take(engine).changes_since(before)
    assert not problems, "\n".join(problems)


def test_copy_of_a_url_error_wording_equals_docker_s(
        engine: Engine, site: Site, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text(f"FROM busybox\nCOPY {site.url('/a')} /a\n")
    result = docker_build(engine, str(tmp_path))
    assert result.returncode == 1, result.describe()
    assert result.stderr.rstrip("\n").endswith("\nCOPY failed: source can't be a URL for COPY")
