"""`docker save` / `docker load`: files, pipes, IDs kept, bad archives.

What the archive holds is checked where it must be exact for every engine:
manifest.json names the config file, whose sha256 is the image ID, and the
layer files, whose sha256 are the diffIDs (uncompressed, byte for byte).
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from pathlib import Path

from support.conformance import Conform, Session


def archive_summary(path: Path) -> list[dict[str, object]]:
    """What a docker-archive says about its images, checked for integrity.

    For each manifest.json entry: its RepoTags, the image ID (sha256 of the
    config file) and the layer diffIDs (sha256 of each layer file), after
    asserting that the config's rootfs.diff_ids list the same digests.
    """
    with tarfile.open(path) as tar:
        files = {m.name: m for m in tar.getmembers()}
        assert "manifest.json" in files, f"{path}: no manifest.json in {sorted(files)}"

        def read(name: str) -> bytes:
            member = tar.extractfile(files[name])
            assert member is not None, name
            return member.read()

        summary = []
        for entry in json.loads(read("manifest.json")):
            raw_config = read(entry["Config"])
            config = json.loads(raw_config)
            layers = [f"sha256:{hashlib.sha256(read(n)).hexdigest()}" for n in entry["Layers"]]
            assert config["rootfs"]["diff_ids"] == layers, (entry, config["rootfs"])
            summary.append(
                {
                    "RepoTags": entry.get("RepoTags"),
                    "Id": "sha256:" + hashlib.sha256(raw_config).hexdigest(),
                    "Layers": layers,
                }
            )
    return summary


def test_save_load_roundtrip_files(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        out = s.tmp / "both.tar"
        r = s.docker("save", "-o", str(out), "busybox", "hello-world").ok()
        assert r.stdout == r.stderr == ""
        summary = sorted(archive_summary(out), key=lambda e: str(e["RepoTags"]))
        assert summary == [
            {
                "RepoTags": ["busybox:latest"],
                "Id": s.baseline.ids["busybox:latest"],
                "Layers": [s.baseline.diff_ids["busybox:latest"]],
            },
            {
                "RepoTags": ["hello-world:latest"],
                "Id": s.baseline.ids["hello-world:latest"],
                "Layers": [s.baseline.diff_ids["hello-world:latest"]],
            },
        ]
        s.record("archive", summary)
        s.docker("rmi", "busybox", "hello-world").ok()
        r = s.docker("load", "-i", str(out), stdout="sorted").ok()
        assert sorted(r.stdout.splitlines()) == [
            "Loaded image: busybox:latest",
            "Loaded image: hello-world:latest",
        ]
        s.docker("images").ok()
        # Loading what is already there changes nothing and says the same.
        s.docker("load", "--input", str(out), stdout="sorted").ok()
        s.docker("load", "-q", "-i", str(out), stdout="sorted").ok()
        s.docker("images").ok()
        s.docker("image", "save", "--output", str(s.tmp / "one.tar"), "hello-world:latest").ok()
        s.record("one.tar", archive_summary(s.tmp / "one.tar"))
        s.docker("image", "load", "-i", str(s.tmp / "one.tar")).ok()

    conform(scenario)


def test_save_load_pipes(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.sh("docker save busybox | docker load").ok()
        assert r.stdout == "Loaded image: busybox:latest\n"
        s.sh(
            "docker save hello-world > hw.tar && docker rmi hello-world >/dev/null"
            " && docker load < hw.tar"
        ).ok()
        s.record("hw.tar", archive_summary(s.tmp / "hw.tar"))
        s.sh("cat hw.tar | docker image load").ok()
        s.docker("images").ok()

    conform(scenario)


def test_save_by_id_and_several_tags(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        busybox = s.baseline.ids["busybox:latest"]
        s.docker("save", "-o", "byid.tar", busybox.removeprefix("sha256:")[:12]).ok()
        s.record("byid.tar", archive_summary(s.tmp / "byid.tar"))  # RepoTags: null
        s.docker("tag", "busybox", "bb:two").ok()
        s.docker("save", "-o", "tags.tar", "busybox", "bb:two").ok()
        s.record("tags.tar", archive_summary(s.tmp / "tags.tar"))
        s.docker("rmi", "-f", busybox).ok()
        r = s.docker("load", "-i", "byid.tar").ok()
        assert r.stdout == f"Loaded image ID: {busybox}\n"
        s.docker("images").ok()
        s.docker("load", "-i", "tags.tar", stdout="sorted").ok()
        s.docker("images", stdout="rows").ok()

    conform(scenario)


def test_save_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("save", "-o", "x.tar", "nope").fails(1)
        assert r.stderr == "Error response from daemon: No such image: nope\n"
        s.docker("save", "-o", "x.tar", "busybox", "nope:1").fails(1)
        s.docker("save", "-o", "x.tar", "0123456789ab").fails(1)

    conform(scenario)


def test_load_bad_archives(conform: Conform) -> None:
    """Broken input fails with exit 1 and leaves the image store unchanged.

    The messages are the engine's own (Docker's name Go internals), so only
    their presence is compared.
    """

    def scenario(s: Session) -> None:
        good = s.tmp / "good.tar"
        s.docker("save", "-o", str(good), "busybox").ok()
        s.docker("rmi", "busybox").ok()
        data = good.read_bytes()
        (s.tmp / "garbage.tar").write_bytes(hashlib.sha256(b"x").digest() * 64)
        (s.tmp / "truncated.tar").write_bytes(data[: len(data) // 2])
        (s.tmp / "empty.tar").write_bytes(b"")
        for name in ("garbage.tar", "truncated.tar", "empty.tar"):
            r = s.docker("load", "-i", name, stderr="nonempty").fails(1)
            assert r.stdout == ""
        s.docker("load", stdout="nonempty", stderr="nonempty").fails(1)  # empty stdin
        s.docker("load", "-i", "missing.tar", stderr="nonempty").fails(1)
        s.docker("images", "-a").ok()
        s.docker("load", "-i", str(good)).ok()
        s.docker("images").ok()

    conform(scenario)
