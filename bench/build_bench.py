"""Build benchmark: ketchd's classic builder against Docker 20.10's, side by side.

Both engines get the same busybox base (imported from Debian's
busybox-static) and build the same Dockerfiles with the real docker CLI
(``DOCKER_BUILDKIT=0``):

1. a cold multi-step build (``--no-cache``): RUN, COPY, ENV, WORKDIR, CMD,
   a second RUN that writes files — every step really executed;
2. a fully cached rebuild of the same context;
3. a fully cached rebuild of a more realistic application Dockerfile
   (16 instructions: ARG, ENV, LABEL, WORKDIR, four COPYs of a 221-file
   source tree, two RUNs, EXPOSE, USER, HEALTHCHECK, CMD), where the
   per-step work of a cache hit weighs more than in 2;
4. a context of 5,000 small files copied in one COPY (``--no-cache``).

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

APP = """\
FROM busybox
ARG VERSION=1.0
ENV APP_HOME=/srv/app PATH=/srv/app/bin:/usr/bin:/bin
LABEL org.opencontainers.image.title=bench org.opencontainers.image.version=$VERSION
WORKDIR /srv/app
COPY requirements.txt ./
RUN mkdir -p deps && cp requirements.txt deps/ && echo installed > deps/done
COPY lib/ ./lib/
COPY bin/ ./bin/
RUN chmod +x bin/* && ls -R lib > manifest.txt
COPY config/ /etc/app/
ENV MODE=production
EXPOSE 8080
USER 1000:1000
HEALTHCHECK --interval=30s CMD wget -q -O- http://localhost:8080/health || exit 1
CMD ["sh", "-c", "bin/start"]
"""

MANY_FILES = """\
FROM busybox
COPY files/ /files/
"""


def _app_context(root: Path) -> Path:
    app = root / "app"
    (app / "requirements.txt").parent.mkdir(parents=True)
    (app / "requirements.txt").write_text("".join(f"package{i}==1.{i}\n" for i in range(30)))
    for package in range(10):
        for module in range(20):
            path = app / "lib" / f"pkg{package}" / f"module{module}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"def f{module}():\n    return {package * 100 + module}\n" * 20)
    for name in ("start", "stop", "migrate", "worker", "shell"):
        (app / "bin").mkdir(exist_ok=True)
        (app / "bin" / name).write_text(f"#!/bin/sh\necho {name}\n")
    for i in range(15):
        (app / "config").mkdir(exist_ok=True)
        (app / "config" / f"setting{i}.conf").write_text(f"key{i} = value{i}\n")
    (app / "Dockerfile").write_text(APP)
    return app


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


def measure(engine: Engine, multi: Path, many: Path, app: Path) -> dict[str, float]:
    results: dict[str, float] = {}
    _build(engine, multi)  # warm-up, and the cache for the rebuild
    results["cold multi-step build (--no-cache)"] = timed(
        lambda: _build(engine, multi, "--no-cache"), RUNS)
    _build(engine, multi)
    results["fully cached rebuild"] = timed(lambda: _build(engine, multi), RUNS)
    _build(engine, app)
    results["fully cached rebuild, 16-step app"] = timed(lambda: _build(engine, app), RUNS)
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
        app = _app_context(root / "contexts")
        ours = measure(ketch, multi, many, app)
        theirs = measure(reference, multi, many, app)
    return finish("build (seconds)", ours, theirs, problems)


if __name__ == "__main__":
    raise SystemExit(main())
