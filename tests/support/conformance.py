"""Run one scenario on the reference Docker and on the engine under test.

A conformance test is written once, as a function of a ``Session``: it runs
docker CLI commands (or SDK calls) and records what they printed. The same
function runs on the reference dockerd and on ketchd, each starting from the
same baseline image set; the two transcripts, normalised, must be equal.
Scenarios also assert what Docker is known to do (exit codes, messages),
so that running them on the reference alone already tests something.

Normalising removes only what legitimately differs between two engines:
IDs of images made during the test (an import records the time, so the
config digest differs), timestamps, "N seconds ago", engine paths, and
whitespace runs in tables (column widths follow the normalised values).
IDs and timestamps of the baseline images are identical on every engine
and are kept verbatim. Sizes are compared as they are: the same content
must be accounted the same way.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from . import dockercli
from .dockercli import Result
from .engines import Engine
from .images import OfflineImages, import_image

#: How a stream is compared: verbatim after normalising; with its lines
#: sorted, or a table's rows sorted under its header (where Docker's own
#: order is unspecified: images created in the same second, or the rows of
#: one image tagged in several repositories); only whether it is empty; or
#: not at all.
Mode = Literal["exact", "sorted", "rows", "nonempty", "ignore"]

_ID64 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
_ID12 = re.compile(r"(?<![0-9a-zA-Z])[0-9a-f]{12}(?![0-9a-zA-Z])")
_RFC3339 = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_GOTIME = re.compile(r"\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)? [+-]\d{4} [A-Z]{2,5}\b")
_AGO = re.compile(
    r"\b(?:Less than a second|About a minute|About an hour|An? (?:day|week|month|year)|"
    r"\d+ (?:seconds?|minutes?|hours?|days?|weeks?|months?|years?)) ago\b"
)
_SPACES = re.compile(r" {2,}")
_UP = re.compile(
    r"\bUp (?:Less than a second|About a minute|About an hour|\d+ (?:seconds?|minutes?|hours?))"
)

#: Messages that Docker itself changed after 20.10 (the reference here);
#: ketchd speaks as current Docker (moby 28) does. Each rule rewrites the
#: 20.10 form and the current form to one text, so a transcript still shows
#: that an error happened and of which kind.
VERSION_DIFFERENCES: list[tuple[re.Pattern[str], str]] = [
    # 20.10 wrapped image-inspect errors: "no such image: X: <error>".
    (re.compile(r"no such image: \S+: (?=\S)"), ""),
    # moby 28 (distribution/reference) names the repository in the message.
    (re.compile(r"repository name \([^)]*\) must be lowercase"),
     "repository name must be lowercase"),
    # moby 28 daemon/internal/filters/errors.go: lower-case "invalid filter".
    (re.compile(r"Invalid filter '"), "invalid filter '"),
    # moby 28 daemon/builder/dockerfile/dispatchers.go: lower-case too.
    (re.compile(r"Invalid containerPort: "), "invalid containerPort: "),
    # moby 28 daemon/delete.go and daemon/kill.go word these differently.
    (re.compile(r"You cannot remove a running container \S+\. Stop the container before "
                r"attempting removal or force remove"), "<cannot remove a running container>"),
    (re.compile(r'cannot remove container "[^"]+": container is running: stop the container '
                r"before removing or force remove"), "<cannot remove a running container>"),
    (re.compile(r"Cannot kill container: (\S+): Container "),
     r"cannot kill container: \1: container "),
    (re.compile(r"Container (\S+) is not running"), r"container \1 is not running"),
    (re.compile(r"Container (\S+) is already paused"), r"container \1 is already paused"),
    # Docker starts containers through containerd's shim, which wraps runc's
    # error; ketchd runs runc under conmon and passes runc's error as it is.
    (re.compile(r"failed to create shim task: "), ""),
    (re.compile(r"(OCI runtime create failed: .*): unknown$", re.M), r"\1"),
]


@dataclass
class Normalizer:
    """Rewrites one transcript's variable tokens into stable placeholders.

    IDs not in ``stable_ids`` are numbered in order of first appearance
    (``<ID1>`` for 64 hex digits, ``<id1>`` for a 12-digit short ID of the
    same image), so "the same unknown ID twice" stays visible.
    """

    stable_ids: set[str] = field(default_factory=set)
    stable_times: set[str] = field(default_factory=set)
    paths: dict[str, str] = field(default_factory=dict)
    _ids: dict[str, int] = field(default_factory=dict)

    def _number(self, short: str) -> int:
        return self._ids.setdefault(short, len(self._ids) + 1)

    def _long(self, m: re.Match[str]) -> str:
        hex64 = m.group(0)
        if hex64 in self.stable_ids:
            return hex64
        return f"<ID{self._number(hex64[:12])}>"

    def _short(self, m: re.Match[str]) -> str:
        hex12 = m.group(0)
        if any(s.startswith(hex12) for s in self.stable_ids):
            return hex12
        return f"<id{self._number(hex12)}>"

    def _time(self, m: re.Match[str]) -> str:
        if m.group(0) in self.stable_times or m.group(0).startswith("0001-"):
            return m.group(0)
        return "<TIME>"

    def __call__(self, text: str) -> str:
        for path, name in sorted(self.paths.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(path, name)
        for pattern, replacement in VERSION_DIFFERENCES:
            text = pattern.sub(replacement, text)
        text = _ID64.sub(self._long, text)
        text = _ID12.sub(self._short, text)
        text = _RFC3339.sub(self._time, text)
        text = _GOTIME.sub(self._time, text)
        text = _AGO.sub("<AGO>", text)
        text = _UP.sub("Up <DURATION>", text)
        return "\n".join(_collapse(line) for line in text.split("\n"))


def _collapse(line: str) -> str:
    """Squeeze runs of spaces inside a line (table padding), keep indentation."""
    body = line.lstrip(" ")
    return line[: len(line) - len(body)] + _SPACES.sub("  ", body).rstrip()


def _apply_mode(text: str, mode: Mode) -> str:
    if mode == "exact":
        return text
    if mode == "sorted":
        return "\n".join(sorted(line for line in text.split("\n") if line))
    if mode == "rows":
        head, *rows = [line for line in text.split("\n") if line] or [""]
        return "\n".join([head, *sorted(rows)])
    if mode == "nonempty":
        return "<non-empty>" if text.strip() else "<empty>"
    return "<not compared>"


#: Creation times pinned into the baseline images' configs. Far in the past
#: and a day apart, so that anything a test creates lists before them and
#: the listing order never depends on two images created in one second.
BASELINE_CREATED = {
    "hello-world:latest": "2024-01-01T00:00:00Z",
    "busybox:latest": "2024-01-02T00:00:00Z",
}


def pin_created(src: Path, dst: Path, created: dict[str, str]) -> dict[str, str]:
    """Copy a `docker save` archive, setting each image's creation time.

    The config's ``created`` and its history entries' times are replaced,
    the config is written compactly and renamed after its new digest, and
    manifest.json points at it. Layers are copied byte for byte. Returns
    ref -> new image ID. Member order and mtimes are fixed, so the result
    is the same in every session.
    """
    members: dict[str, tuple[tarfile.TarInfo, bytes]] = {}
    with tarfile.open(src) as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m) if m.isfile() else None
            members[m.name] = (m, f.read() if f else b"")
    manifest = json.loads(members["manifest.json"][1])
    ids: dict[str, str] = {}
    configs: dict[str, bytes] = {}
    for entry in manifest:
        ref = entry["RepoTags"][0]
        config = json.loads(members[entry["Config"]][1])
        config["created"] = created[ref]
        for h in config.get("history", []):
            h["created"] = created[ref]
        raw = json.dumps(config, separators=(",", ":")).encode()
        digest = hashlib.sha256(raw).hexdigest()
        configs[f"{digest}.json"] = raw
        entry["Config"] = f"{digest}.json"
        ids[ref] = f"sha256:{digest}"
    old = {e for e in members if e.endswith(".json") and "/" not in e}
    out: list[tuple[tarfile.TarInfo, bytes]] = []
    for name in sorted(members):
        if name in old:
            continue
        info, data = members[name]
        out.append((info, data))
    for name, data in sorted(configs.items()):
        out.append((tarfile.TarInfo(name), data))
    out.append((tarfile.TarInfo("manifest.json"), json.dumps(manifest).encode()))
    with tarfile.open(dst, "w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in out:
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isdir():
                tar.addfile(info)
            else:
                info.mode = 0o644
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return ids


@dataclass
class Baseline:
    """The image set every scenario starts from.

    hello-world and busybox are imported into the reference dockerd and
    saved to one archive, whose configs then get fixed creation times
    (``BASELINE_CREATED``). Resetting an engine loads that archive, so the
    baseline images have the same IDs and timestamps on every engine and
    in every session.
    """

    archive: Path
    ids: dict[str, str]
    created: dict[str, str]
    diff_ids: dict[str, str]
    listing: list[str]

    @property
    def stable_ids(self) -> set[str]:
        hexes = {i.removeprefix("sha256:") for i in self.ids.values()}
        hexes |= {d.removeprefix("sha256:") for d in self.diff_ids.values()}
        return hexes

    @property
    def stable_times(self) -> set[str]:
        """The pinned times, as RFC 3339 and as Go's time.String prints them."""
        times = set(self.created.values())
        times |= {f"{t[:10]} {t[11:19]} +0000 UTC" for t in self.created.values()}
        return times

    @staticmethod
    def state(engine: Engine) -> list[str]:
        """What an engine holds: 'ID repo:tag' lines, sorted."""
        out = dockercli.docker(
            engine.env, "images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"
        ).ok()
        return sorted(line for line in out.stdout.splitlines() if line)

    @classmethod
    def create(cls, reference: Engine, images: OfflineImages, workdir: Path) -> Baseline:
        wipe(reference)
        for name in ("hello-world", "busybox"):
            import_image(reference.env, images, name)
        saved = workdir / "saved.tar"
        refs = sorted(BASELINE_CREATED)
        dockercli.docker(reference.env, "save", "-o", str(saved), *refs).ok()
        archive = workdir / "baseline.tar"
        ids = pin_created(saved, archive, BASELINE_CREATED)
        saved.unlink()
        wipe(reference)
        dockercli.docker(reference.env, "load", "-i", str(archive)).ok()
        diff_ids = {ref: images.diff_id(ref.split(":")[0]) for ref in refs}
        listing = sorted(f"{ids[ref]} {ref}" for ref in refs)
        baseline = cls(archive, ids, dict(BASELINE_CREATED), diff_ids, listing)
        actual = cls.state(reference)
        assert actual == listing, f"reference lists {actual} after loading the baseline"
        return baseline

    def reset(self, engine: Engine) -> None:
        """Bring an engine back to exactly the baseline image set."""
        if self.state(engine) == self.listing:
            return
        wipe(engine)
        dockercli.docker(engine.env, "load", "-i", str(self.archive)).ok()
        now = self.state(engine)
        assert now == self.listing, (
            f"{engine.name}: after loading the baseline archive the engine lists\n"
            f"{now}\ninstead of\n{self.listing}"
        )


def wipe(engine: Engine) -> None:
    """Remove every container (when the engine has them) and every image."""
    ps = dockercli.docker(engine.env, "ps", "-aq", "--no-trunc")
    if ps.returncode == 0 and ps.stdout.split():
        dockercli.docker(engine.env, "rm", "-f", *ps.stdout.split()).ok()
    # A parent listed before its child cannot go, even forced; it can once
    # the child has gone, so a few passes empty any chain.
    for _ in range(5):
        ids = dockercli.docker(engine.env, "images", "-aq", "--no-trunc").ok().stdout.split()
        if not ids or dockercli.docker(engine.env, "rmi", "-f", *sorted(set(ids))).returncode == 0:
            return
    raise AssertionError(f"{engine.name}: images left after wiping: {ids}")


@dataclass
class Step:
    """One recorded step of a transcript, already normalised."""

    label: str
    exit: int | None
    stdout: str
    stderr: str

    def render(self) -> str:
        code = "" if self.exit is None else f"  [exit {self.exit}]"
        parts = [f"$ {self.label}{code}"]
        if self.stdout:
            parts.append(self.stdout.rstrip("\n"))
        if self.stderr:
            parts.append("stderr: " + self.stderr.rstrip("\n"))
        return "\n".join(parts)


class Session:
    """One run of a scenario on one engine.

    ``docker(...)`` runs the CLI and records the normalised result;
    ``sh(...)`` does the same for a bash pipeline (``docker`` in it is the
    Docker 28 CLI aimed at this engine); ``record(label, value)`` records
    any JSON-able value (SDK results). Each returns the raw result so that
    the scenario can assert on it. ``tmp`` is an empty directory for
    files the scenario writes (saved archives).
    """

    def __init__(
        self, engine: Engine, images: OfflineImages, baseline: Baseline, tmp: Path
    ) -> None:
        self.engine = engine
        self.images = images
        self.baseline = baseline
        self.tmp = tmp
        self.steps: list[Step] = []
        self.normalize = Normalizer(
            stable_ids=baseline.stable_ids,
            stable_times=baseline.stable_times,
            paths={str(tmp): "<TMP>", str(engine.root): "<ENGINE>", str(images.dir): "<IMAGES>"},
        )
        self._client: Any = None

    @property
    def env(self) -> dict[str, str]:
        return self.engine.env

    def _record(self, label: str, r: Result, stdout: Mode, stderr: Mode) -> None:
        self.steps.append(
            Step(
                label=self.normalize(label),
                exit=r.returncode,
                stdout=_apply_mode(self.normalize(r.stdout), stdout),
                stderr=_apply_mode(self.normalize(r.stderr), stderr),
            )
        )

    def docker(
        self,
        *args: str,
        input: bytes | str | None = None,
        stdout: Mode = "exact",
        stderr: Mode = "exact",
    ) -> Result:
        r = dockercli.docker(self.env, *args, input=input, cwd=self.tmp)
        self._record("docker " + " ".join(args), r, stdout, stderr)
        return r

    def sh(
        self,
        script: str,
        *,
        input: bytes | str | None = None,
        stdout: Mode = "exact",
        stderr: Mode = "exact",
    ) -> Result:
        r = dockercli.shell(self.env, script, input=input, cwd=self.tmp)
        self._record(script, r, stdout, stderr)
        return r

    def record(self, label: str, value: Any, mode: Mode = "exact") -> None:
        """Record a value: a string as is, anything else as indented JSON.

        ``mode="sorted"`` with a list records one compact JSON item per
        line, sorted after normalising (for results in no defined order).
        """
        if mode == "sorted" and isinstance(value, list):
            text = "\n".join(json.dumps(v, sort_keys=True) for v in value)
        elif isinstance(value, str):
            text = value
        else:
            text = json.dumps(value, indent=1, sort_keys=True)
        text = _apply_mode(self.normalize(text), mode)
        self.steps.append(Step(label=label, exit=None, stdout=text, stderr=""))

    @property
    def client(self) -> Any:
        """A Docker SDK client (``docker.DockerClient``) for this engine."""
        if self._client is None:
            import docker  # the SDK; imported lazily, only SDK tests need it

            self._client = docker.DockerClient(base_url=self.engine.host, timeout=120)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def transcript(self) -> str:
        return "\n\n".join(step.render() for step in self.steps) + "\n"


Scenario = Callable[[Session], None]
#: What the ``conform`` fixture gives a test: run this scenario and compare.
Conform = Callable[[Scenario], None]


class ConformanceRunner:
    """Runs scenarios; caches the reference transcript of each test."""

    def __init__(
        self,
        reference: Engine,
        images: OfflineImages,
        baseline: Baseline,
        workdir: Path,
    ) -> None:
        self.reference = reference
        self.images = images
        self.baseline = baseline
        self.workdir = workdir
        self._reference_runs: dict[str, str] = {}
        self._runs = 0

    def run(self, engine: Engine, scenario: Scenario, key: str = "") -> str:
        """Reset engine to the baseline, run the scenario, its transcript.

        With ``KETCH_TEST_TRANSCRIPTS=DIR`` each transcript is also written
        to DIR, to read what Docker printed or diff two engines by hand.
        """
        self.baseline.reset(engine)
        self._runs += 1
        tmp = self.workdir / f"run{self._runs}"
        tmp.mkdir(parents=True)
        session = Session(engine, self.images, self.baseline, tmp)
        try:
            scenario(session)
        finally:
            session.close()
            shutil.rmtree(tmp, ignore_errors=True)
            dump = os.environ.get("KETCH_TEST_TRANSCRIPTS")
            if dump and key:
                name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{key}.{engine.name}") + ".txt"
                Path(dump).mkdir(parents=True, exist_ok=True)
                (Path(dump) / name).write_text(session.transcript())
        return session.transcript()

    def reference_transcript(self, key: str, scenario: Scenario) -> str:
        if key not in self._reference_runs:
            try:
                self._reference_runs[key] = self.run(self.reference, scenario, key)
            except AssertionError as e:
                raise AssertionError(f"the scenario fails on the reference Docker:\n{e}") from e
        return self._reference_runs[key]

    def check(self, key: str, engine: Engine, scenario: Scenario) -> None:
        """Run on engine; unless engine is the reference, compare with it."""
        if engine is self.reference:
            self._reference_runs[key] = self.run(engine, scenario, key)
            return
        expected = self.reference_transcript(key, scenario)
        actual = self.run(engine, scenario, key)
        if actual != expected:
            diff = "".join(
                difflib.unified_diff(
                    expected.splitlines(keepends=True),
                    actual.splitlines(keepends=True),
                    fromfile=f"reference dockerd ({self.reference.name})",
                    tofile=f"{engine.kind} ({engine.name})",
                    n=6,
                )
            )
            raise AssertionError(f"{engine.kind} differs from the reference Docker:\n{diff}")


def keys_missing(
    reference: Any, actual: Any, path: str = "", ignore: Iterable[str] = ()
) -> list[str]:
    """Dotted paths of object keys present in reference but not in actual.

    Recurses into nested objects (not lists). ``ignore`` holds dotted paths
    that may legitimately be absent; ``"A.*"`` ignores every key below A.
    """
    skip = set(ignore)
    missing: list[str] = []
    if isinstance(reference, dict) and isinstance(actual, dict):
        for key, value in reference.items():
            dotted = f"{path}.{key}" if path else key
            if dotted in skip or f"{path}.*" in skip:
                continue
            if key not in actual:
                missing.append(dotted)
            else:
                missing += keys_missing(value, actual[key], dotted, skip)
    return missing
