"""Build benchmark: ketchd's classic builder against Docker 20.10's, side by side.

Both engines get the same busybox base (imported from Debian's
busybox-static) and build the same Dockerfiles with the real docker CLI
(``DOCKER_BUILDKIT=0``):

1. a cold multi-step build (``--no-cache``): RUN, COPY, ENV, WORKDIR, CMD,
   a second RUN that writes files — every step really executed;
2. a fully cached rebuild of the same context;
3. a context of 5,000 small files copied in one COPY (``--no-cache``).

Figures are medians of RUNS builds, in seconds; ratio is ketchd over
Docker (target from issue 5: <= 0.6 on each). Run with
``.venv/bin/python bench/build_bench.py`` (``make bench`` runs it too).
"""

from __future__ import annotations

from pathlib import Path

from common import engine_session, finish, timed
from support.dockercli import docker
from support.engines import Engine
from support.images import build_offline_images, import_offline_images

RUNS = 5
FILES = 5000

MULTI_STEP = """\
FROM busybox
ENV APP=/app MODE=bench
WORKDIR /app
COPY src/ /app/src/
RUN mkdir -p /app/out && for i in 1 2 3 4 5 6 7 8 9 10; do echo $i > /app/out/$i; done
RUN cat /app/src/* > /app/all && rm -f /app/out/1
LABEL stage=bench
EXPOSE 8080
CMD ["sh", "-c", "ls /app"]
"""

MANY_FILES = """\
FROM busybox
COPY files/ /files/
"""


def _context(root: Path) -> tuple[Path, Path]:
    multi = root / "multi"
    (multi / "src").mkdir(parents=True)
    for i in range(20):
        (multi / "src" / f"f{i}.txt").write_text(f"file {i}\n" * 50)
    (multi / "Dockerfile").write_text(MULTI_STEP)
    many = root / "many"
    (many / "files").mkdir(parents=True)
    for i in range(FILES):
        (many / "files" / f"{i:05d}.txt").write_text(f"{i}\n")
    (many / "Dockerfile").write_text(MANY_FILES)
    return multi, many


def _build(engine: Engine, context: Path, *flags: str) -> None:
    env = dict(engine.env, DOCKER_BUILDKIT="0")
    docker(env, "build", "-q", "-t", "bench:latest", *flags, str(context), timeout=600).ok()


def measure(engine: Engine, multi: Path, many: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    _build(engine, multi)  # warm-up, and the cache for the rebuild
    results["cold multi-step build (--no-cache)"] = timed(
        lambda: _build(engine, multi, "--no-cache"), RUNS)
    _build(engine, multi)
    results["fully cached rebuild"] = timed(lambda: _build(engine, multi), RUNS)
    results[f"COPY of {FILES} small files (--no-cache)"] = timed(
        lambda: _build(engine, many, "--no-cache"), RUNS)
    return results


def main() -> int:
    with engine_session() as (root, engines, problems):
        images_dir = root / "images"
        images = build_offline_images(images_dir)
        ketch = engines.ketchd()
        reference = engines.dockerd()
        for engine in (ketch, reference):
            import_offline_images(engine.env, images, ("busybox",))
        multi, many = _context(root / "contexts")
        ours = measure(ketch, multi, many)
        theirs = measure(reference, multi, many)
    return finish("build (seconds)", ours, theirs, problems)


if __name__ == "__main__":
    raise SystemExit(main())
