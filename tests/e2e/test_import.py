"""`docker import`: files, stdin, compression, `--change` and `--message`.

An import's layer is the tarball itself, so its diffID is known in advance
(the sha256 of the uncompressed tar) and must be the same on every engine;
the image ID is not (the config records the time of the import).
"""

from __future__ import annotations

import gzip

from support.conformance import Conform, Session

CONFIG = (
    "{{json .Config.Cmd}}|{{json .Config.Entrypoint}}|{{json .Config.Env}}|"
    "{{.Config.WorkingDir}}|{{.Config.User}}|{{json .Config.ExposedPorts}}|"
    "{{json .Config.Volumes}}|{{json .Config.Labels}}|{{json .Config.OnBuild}}|"
    "{{.Comment}}|{{.Author}}|{{.Os}}/{{.Architecture}}|{{.Size}}|{{json .RootFS.Layers}}|"
    "{{json .RepoTags}}|{{.Parent}}"
)


def test_import_file_and_stdin(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        busybox, hello = str(s.images.busybox), str(s.images.hello_world)
        r = s.docker("import", busybox, "imp/file:1").ok()
        assert r.stdout.startswith("sha256:") and len(r.stdout.strip()) == 71
        r = s.docker("image", "inspect", "--format", CONFIG, "imp/file:1").ok()
        assert s.images.diff_id("busybox") in r.stdout
        assert "|Imported from -|" in r.stdout
        s.sh(f"docker import - imp/stdin:1 < {hello}").ok()
        s.sh(f"cat {hello} | docker image import - imp/pipe:1").ok()
        s.docker("import", hello).ok()  # no reference: an untagged image
        s.docker("images", "--filter", "dangling=true").ok()
        for ref in ("imp/stdin:1", "imp/pipe:1"):
            s.docker("image", "inspect", "--format", CONFIG, ref).ok()
        s.docker("images", stdout="rows").ok()

    conform(scenario)


def test_import_compressed(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        gz = s.tmp / "busybox.tar.gz"
        gz.write_bytes(gzip.compress(s.images.busybox.read_bytes(), mtime=0))
        s.docker("import", str(gz), "imp/gz:1").ok()
        r = s.docker(
            "image", "inspect", "--format", "{{json .RootFS.Layers}} {{.Size}}", "imp/gz:1"
        ).ok()
        # The diffID is the digest of the uncompressed tar.
        assert r.stdout.strip() == (
            f'["{s.images.diff_id("busybox")}"] {s.images.content_size("busybox")}'
        )
        s.sh(f"docker import - imp/gzstdin:1 < {gz}").ok()
        s.docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", "imp/gzstdin:1").ok()

    conform(scenario)


def test_import_changes(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        changes = [
            'ENV A=1 B="two words"',
            "ENV C 3",
            "WORKDIR /srv/app",
            'ENTRYPOINT ["/bin/sh", "-c"]',
            "CMD echo hello",
            "EXPOSE 80 53/udp 8080/tcp",
            'LABEL tier=base "with space"="a b"',
            "LABEL owner=ketch",
            "USER nobody:nogroup",
            "VOLUME /data",
            'VOLUME ["/cache", "/logs"]',
            "ONBUILD RUN echo child",
        ]
        args = [arg for change in changes for arg in ("--change", change)]
        s.docker("import", *args, "-m", "all the changes", str(s.images.busybox), "imp/ch:1").ok()
        r = s.docker("image", "inspect", "--format", CONFIG, "imp/ch:1").ok()
        assert '["/bin/sh","-c","echo hello"]' in r.stdout  # shell form CMD
        assert "|all the changes|" in r.stdout
        s.docker("image", "inspect", "--format", "{{json .Config}}", "imp/ch:1").ok()
        # Exec-form CMD, lower-case instruction, last ENTRYPOINT wins.
        s.docker(
            "import",
            "-c",
            'cmd ["sh", "-c", "true"]',
            "-c",
            "ENTRYPOINT a",
            "-c",
            "ENTRYPOINT []",
            str(s.images.hello_world),
            "imp/ch:2",
        ).ok()
        s.docker("image", "inspect", "--format", CONFIG, "imp/ch:2").ok()
        s.docker("history", "imp/ch:1").ok()

    conform(scenario)


def test_import_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        tar = str(s.images.busybox)
        r = s.docker("import", "--change", "RUN echo", tar, "bad:1").fails(1)
        assert r.stderr == "Error response from daemon: run is not a valid change command\n"
        # (STOPSIGNAL is refused by Docker 20.10 but a valid change since moby 23.)
        for change in (
            "MAINTAINER me",
            "FROM busybox",
            "BOGUS x",
            "ENV",
            "EXPOSE notaport",
            "COPY a b",
        ):
            s.docker("import", "--change", change, tar, "bad:1").fails(1)
        (s.tmp / "garbage.tar").write_bytes(b"this is not a tar archive\n" * 100)
        s.docker("import", "garbage.tar", "bad:2", stderr="nonempty").fails(1)
        s.docker("import", "missing.tar", "bad:3", stderr="nonempty").fails(1)
        s.docker("import", tar, "Bad:Ref").fails(1)
        s.docker("images", "-a").ok()  # nothing half-imported is listed

    conform(scenario)
