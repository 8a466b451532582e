"""`docker images` / `docker image ls`: tables, flags, formats and filters.

Every scenario starts from the baseline (hello-world created 2024-01-01,
busybox 2024-01-02) and compares with the reference Docker. Tables whose
row order Docker itself leaves open (images created in the same second;
one image tagged in several repositories, which the CLI groups through a
Go map) are compared with their rows sorted (``stdout="rows"``).
"""

from __future__ import annotations

from support.conformance import Conform, Session


def test_images_default_table_and_order(conform: Conform) -> None:
    """Newest first: a fresh import lists above the two baseline images."""

    def scenario(s: Session) -> None:
        r = s.docker("images").ok()
        assert r.stdout.splitlines()[0].split() == [
            "REPOSITORY",
            "TAG",
            "IMAGE",
            "ID",
            "CREATED",
            "SIZE",
        ]
        assert [line.split()[0] for line in r.stdout.splitlines()[1:]] == [
            "busybox",
            "hello-world",
        ]
        s.docker("image", "ls").ok()
        s.docker("import", str(s.images.hello_world), "newest:1").ok()
        r = s.docker("images", "--format", "{{.Repository}}:{{.Tag}}").ok()
        assert r.stdout.split() == ["newest:1", "busybox:latest", "hello-world:latest"]
        s.docker("images").ok()

    conform(scenario)


def test_images_flags(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("tag", "busybox", "bb:v2").ok()
        s.docker("tag", "busybox", "localhost:5000/tools/bb:1.0").ok()
        s.docker("images", stdout="rows").ok()
        r = s.docker("images", "-q", stdout="sorted").ok()
        assert len(r.stdout.split()) == 4  # one line per row, IDs repeated
        s.docker("images", "-a", stdout="rows").ok()
        s.docker("images", "--no-trunc", stdout="rows").ok()
        s.docker("images", "-q", "--no-trunc", stdout="sorted").ok()
        s.docker("images", "--digests", stdout="rows").ok()
        s.docker("images", "busybox").ok()
        s.docker("images", "bb").ok()
        s.docker("images", "bb:v2").ok()
        s.docker("images", "bb:nope").ok()
        s.docker("images", "localhost:5000/tools/bb").ok()
        s.docker("images", "-q", "hello-world").ok()
        s.docker(
            "images",
            "--format",
            "{{.Repository}}|{{.Tag}}|{{.ID}}|{{.Size}}|{{.Digest}}",
            stdout="sorted",
        ).ok()
        s.docker(
            "images",
            "--format",
            "table {{.Repository}}\t{{.Tag}}\t{{.CreatedSince}}",
            stdout="rows",
        ).ok()
        s.docker("images", "--format", "json", stdout="sorted").ok()
        s.docker("images", "--format", "{{json .}}", stdout="sorted").ok()

    conform(scenario)


def test_images_filters(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker(
            "import", "--change", "LABEL tier=base owner=ketch", str(s.images.busybox), "labelled:1"
        ).ok()
        # Importing over an existing tag leaves the old image dangling.
        first = s.docker("import", str(s.images.hello_world), "again:1").ok().stdout.strip()
        s.docker("import", "-m", "second", str(s.images.hello_world), "again:1").ok()
        r = s.docker("images", "-q", "--no-trunc", "--filter", "dangling=true").ok()
        assert r.stdout.split() == [first]
        s.docker("images", "--filter", "dangling=true").ok()
        s.docker("images", "--filter", "dangling=false", stdout="rows").ok()
        s.docker("images", "-a", "--filter", "dangling=true").ok()
        s.docker("images", "--filter", "reference=busy*").ok()
        s.docker("images", "--filter", "reference=*:latest").ok()
        s.docker("images", "--filter", "reference=again").ok()
        s.docker("images", "--filter", "reference=hello-world:latest").ok()
        s.docker(
            "images", "--filter", "reference=busybox", "--filter", "reference=again", stdout="rows"
        ).ok()
        s.docker("images", "--filter", "label=tier").ok()
        s.docker("images", "--filter", "label=tier=base").ok()
        s.docker("images", "--filter", "label=tier=other").ok()
        s.docker("images", "--filter", "label=tier", "--filter", "label=owner=ketch").ok()
        s.docker("images", "--filter", "before=busybox").ok()
        s.docker("images", "--filter", "since=hello-world", stdout="rows").ok()
        s.docker(
            "images", "--filter", "since=busybox", "--filter", "dangling=false", stdout="rows"
        ).ok()
        s.docker("images", "--filter", "dangling=true", "--filter", "label=tier").ok()

    conform(scenario)


def test_images_filter_errors(conform: Conform) -> None:
    """Bad filters are the daemon's to reject: 400, Docker's messages."""

    def scenario(s: Session) -> None:
        s.docker("images", "--filter", "bogus=1").fails(1)
        s.docker("images", "--filter", "dangling=maybe").fails(1)
        s.docker("images", "--filter", "before=nope").fails(1)
        s.docker("images", "--filter", "since=nope:1.0").fails(1)
        # ("until" is rejected by Docker 20.10 but accepted since moby 25: not compared.)
        # A malformed filter never reaches the daemon: the CLI says so (125).
        s.docker("images", "--filter", "noequals").fails(125)

    conform(scenario)


def test_images_empty(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        s.docker("rmi", "busybox", "hello-world").ok()
        r = s.docker("images").ok()
        assert r.stdout.count("\n") == 1  # the header alone
        assert s.docker("images", "-q").ok().stdout == ""
        s.docker("images", "--format", "json").ok()
        s.docker("images", "-a").ok()

    conform(scenario)
