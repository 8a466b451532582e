"""`docker image inspect` and `docker history`.

The default (JSON) output of inspect is the daemon's own document, printed
as is, so parts of it describe the engine (GraphDriver, DockerVersion) and
the API version (fields dropped in later versions). Those are compared by
key set; everything the image itself determines is compared by value.
"""

from __future__ import annotations

import json

from support.conformance import Conform, ConformanceRunner, Session, keys_missing
from support.dockercli import docker
from support.engines import Engine

#: Inspect fields Docker dropped from later API versions, which an engine
#: speaking those versions may omit: VirtualSize (1.44), Container and
#: ContainerConfig (1.45), and the container-only keys that Docker used to
#: send inside an image's Config (deprecated, gone from newer versions).
_CONTAINER_ONLY = (
    "Hostname Domainname AttachStdin AttachStdout AttachStderr Tty OpenStdin StdinOnce Image"
)
DEPRECATED_INSPECT_KEYS = (
    "VirtualSize",
    "Container",
    "ContainerConfig",
    *(f"Config.{key}" for key in _CONTAINER_ONLY.split()),
)

IMAGE_FIELDS = (
    "{{.Id}}|{{json .RepoTags}}|{{json .RepoDigests}}|{{.Parent}}|{{.Comment}}|{{.Created}}|"
    "{{.Author}}|{{.Os}}|{{.Architecture}}|{{.Size}}|{{json .RootFS}}|{{json .Config.Cmd}}|"
    "{{json .Config.Entrypoint}}|{{json .Config.Env}}|{{.Config.WorkingDir}}|{{.Config.User}}|"
    "{{json .Config.Labels}}|{{json .Config.Volumes}}|{{json .Config.OnBuild}}"
)


def test_inspect_values(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("image", "inspect", "--format", IMAGE_FIELDS, "busybox").ok()
        assert r.stdout.startswith(s.baseline.ids["busybox:latest"] + "|")
        assert "|2024-01-02T00:00:00Z|" in r.stdout
        s.docker("image", "inspect", "--format", IMAGE_FIELDS, "hello-world").ok()
        # The CLI runs templates on its typed struct, and on the daemon's raw
        # JSON as a map when that fails; both paths must give Docker's answer.
        s.docker("image", "inspect", "--format", "{{.Config.ExposedPorts}}", "busybox").ok()
        s.docker("image", "inspect", "--format", "{{.Config.Healthcheck}}", "busybox").ok()
        short = s.baseline.ids["busybox:latest"].removeprefix("sha256:")
        # Every way to name an image: name, name:tag, full name, IDs, prefixes.
        for name in (
            "busybox:latest",
            "docker.io/library/busybox",
            "library/busybox:latest",
            s.baseline.ids["busybox:latest"],
            short,
            short[:12],
            short[:4],
        ):
            s.docker("image", "inspect", "--format", "{{.Id}}", name).ok()
        s.docker("inspect", "--type", "image", "--format", "{{.Id}} {{.RepoTags}}", "busybox").ok()
        s.docker("inspect", "--format", "{{.Os}}", "hello-world").ok()
        s.docker("image", "inspect", "--format", "{{.Id}}", "busybox", "hello-world").ok()
        s.docker("image", "inspect", "--format", "{{json .Metadata}}", "busybox", stdout="nonempty")
        s.docker("image", "inspect", "--format", "{{json .}}", "busybox", stdout="nonempty").ok()

    conform(scenario)


def test_inspect_errors(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("image", "inspect", "nope").fails(1)
        assert r.stdout == "[]\n"
        assert r.stderr.endswith("No such image: nope:latest\n")
        s.docker("image", "inspect", "nope:1.0").fails(1)
        s.docker("image", "inspect", "--format", "{{.Id}}", "busybox", "nope").fails(1)
        s.docker("inspect", "--type", "image", "nope").fails(1)
        s.docker("image", "inspect", "0123456789ab").fails(1)
        s.docker("image", "inspect", "sha256:" + "0" * 64).fails(1)
        s.docker("image", "inspect", "UPPER").fails(1)
        s.docker("image", "inspect", "--format", "{{.NoSuchField}}", "busybox").fails(1)

    conform(scenario)


def test_inspect_document_keys(
    engine: Engine, refdocker: Engine, runner: ConformanceRunner
) -> None:
    """Every key the reference sends for an image, ketchd sends too."""
    runner.baseline.reset(engine)
    doc = json.loads(docker(engine.env, "image", "inspect", "busybox").ok().stdout)
    assert isinstance(doc, list) and len(doc) == 1
    image = doc[0]
    assert image["Id"] == runner.baseline.ids["busybox:latest"]
    assert image["RepoTags"] == ["busybox:latest"]
    assert image["RepoDigests"] == []
    assert image["Config"]["Cmd"] == ["sh"]
    layers = [runner.baseline.diff_ids["busybox:latest"]]
    assert image["RootFS"] == {"Type": "layers", "Layers": layers}
    # Docker's size of an unpacked layer: like du of its files' lengths
    # (hard links once, symlinks by target length, directories 0).
    assert image["Size"] == runner.images.content_size("busybox")
    if engine is not refdocker:
        ref = json.loads(docker(refdocker.env, "image", "inspect", "busybox").ok().stdout)[0]
        missing = keys_missing(ref, image, ignore=DEPRECATED_INSPECT_KEYS)
        assert missing == [], f"keys Docker sends and {engine.kind} does not: {missing}"


def test_history(conform: Conform) -> None:
    def scenario(s: Session) -> None:
        r = s.docker("history", "busybox").ok()
        assert "Imported from -" in r.stdout
        s.docker("history", "--no-trunc", "busybox").ok()
        s.docker("history", "-q", "busybox").ok()
        s.docker("history", "-H=false", "busybox").ok()
        s.docker(
            "history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}", "hello-world"
        ).ok()
        s.docker("history", "--format", "json", "busybox").ok()
        s.docker("image", "history", "hello-world").ok()
        s.docker(
            "import", "-m", "a message", "--change", 'CMD ["sh"]', str(s.images.busybox), "msg:1"
        ).ok()
        s.docker("history", "msg:1").ok()
        s.docker("history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}", "msg:1").ok()
        s.docker("history", "nope").fails(1)

    conform(scenario)
