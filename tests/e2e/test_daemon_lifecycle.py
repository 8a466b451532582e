"""The daemon as a process: start, clean stop, restart, crash, pidfile.

These use a ketchd of their own (``fresh_ketchd``) since they stop it.
"""

from __future__ import annotations

import pytest
from support.dockercli import docker
from support.engines import E2E_ENGINES, Engine
from support.images import OfflineImages, import_offline_images

pytestmark = pytest.mark.skipif(
    "ketchd" not in E2E_ENGINES, reason="KETCH_TEST_ENGINES leaves ketchd out"
)


def held_images(k: Engine) -> list[str]:
    out = docker(k.env, "images", "--no-trunc", "--format", "{{.ID}} {{.Repository}}").ok()
    return sorted(out.stdout.splitlines())


def test_stop_restart_and_kill9_keep_images(
    fresh_ketchd: Engine, offline_images: OfflineImages
) -> None:
    k = fresh_ketchd
    assert k.pidfile.read_text().strip() == str(k.pid)
    ids = import_offline_images(k.env, offline_images)
    listing = held_images(k)
    assert listing == sorted(f"{ids[name]} {name}" for name in ("busybox", "hello-world"))

    assert k.stop() == 0  # SIGTERM: a clean exit
    assert not k.pidfile.exists()  # removed on a clean shutdown, as dockerd does
    assert docker(k.env, "images").returncode != 0  # really gone

    k.start()  # same directories
    assert k.starts == 2
    assert held_images(k) == listing

    k.kill9()
    k.start()
    assert held_images(k) == listing
    assert k.pidfile.read_text().strip() == str(k.pid)
