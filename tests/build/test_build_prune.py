"""The classic build cache through a real ketchd: listed, pruned, gone for good.

ketchd's build cache is the classic builder's: the intermediate image each
step made, found again by (parent image, step). ``POST /build/prune``
removes the steps nothing needs any more (untagged, no child image, no
container): their images go, ``CachesDeleted`` names them and
``SpaceReclaimed`` counts the layers they added; a rebuild then runs every
step again. ``all`` also forgets the steps under tagged images (the images
stay, a rebuild is not cached). ``docker builder prune`` (Docker 28's CLI)
and ``ketch builder prune`` drive it.

Docker 20.10 routes ``/build/prune`` to BuildKit's cache only; the
parameters and their validation (``filters`` keys, ``until`` durations,
``keep-storage`` bytes) are taken from its router and builder-next, the
space bounds (``reserved-space``, ``max-used-space``, ``min-free-space``
from API 1.48, least recently used first) from BuildKit's cache manager.
``GET /system/df`` lists the same records (``Parent`` before API 1.42,
`` Parents`` after, as Docker's struct tag spells it), and steps that a
prune with ``all`` or a ``--no-cache`` rebuild took out of the lookups
stay records until they are reclaimed.
Each test builds what it prunes on a ketchd of this module's own, so no
other test's cache is touched.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from support.dockercli import Result, docker
from support.engines import Engine, EngineSet
from support.images import OfflineImages

from .buildhelp import docker_build, ketch, private_ketchd, step_ids

#: A step that adds a layer of a known size, one that adds a tiny one, and
#: one with no layer.
DOCKERFILE = """\
FROM busybox
RUN dd if=/dev/zero of=/blob bs=1000 count=300 2>/dev/null
COPY a /a
ENV DONE=1
"""
BLOB = 300_000


@pytest.fixture(scope="module")
def engine(engine_set: EngineSet, offline_images: OfflineImages) -> Iterator[Engine]:
    engine = private_ketchd(engine_set, offline_images)
    yield engine
    engine.stop()


@pytest.fixture(autouse=True)
def _empty_cache(engine: Engine) -> Iterator[None]:
    """Each test starts and ends with busybox only and an empty cache."""
    yield
    images = docker(engine.env, "images", "--format", "{{.Repository}}:{{.Tag}}").ok()
    tags = [t for t in images.stdout.split() if t != "busybox:latest" and "<none>" not in t]
    if tags:
        docker(engine.env, "rmi", *tags).ok()
    _prune(engine, all="1")
    docker(engine.env, "image", "prune", "-f").ok()  # what the cache lost track of
    left = docker(engine.env, "images", "-aq").ok().stdout.split()
    assert len(left) == 1, f"images left after the test: {left}"


def _context(tmp_path: Path, marker: str) -> Path:
    """A context whose COPY source is unique to the caller (no cache across tests)."""
    ctx = tmp_path / "ctx"
    ctx.mkdir(parents=True, exist_ok=True)
    (ctx / "Dockerfile").write_text(DOCKERFILE)
    (ctx / "a").write_text(marker + "\n")
    return ctx


def _build(engine: Engine, ctx: Path, *args: str) -> list[str]:
    """Build with the docker CLI; the short IDs of the three steps' images."""
    result = docker_build(engine, "--network", "none", *args, str(ctx))
    assert result.returncode == 0, result.describe()
    ids = step_ids(result.stdout)
    assert len(ids) == 3, result.stdout
    return ids


def _cache_hits(engine: Engine, ctx: Path, *args: str) -> int:
    result = docker_build(engine, "--network", "none", *args, str(ctx))
    assert result.returncode == 0, result.describe()
    return result.stdout.count(" ---> Using cache")


def _prune(engine: Engine, **params: str) -> dict[str, object]:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    resp = engine.request("POST", f"/v1.41/build/prune?{query}")
    assert resp.status == 200, f"{resp.status} {resp.text}"
    assert resp.headers["content-type"].startswith("application/json")
    report: dict[str, object] = resp.json()
    assert set(report) >= {"CachesDeleted", "SpaceReclaimed"}, report
    return report


def _deleted(report: dict[str, object]) -> list[str]:
    """CachesDeleted as bare hex IDs (null when nothing was deleted, as Go marshals)."""
    deleted = report["CachesDeleted"]
    assert deleted is None or isinstance(deleted, list), report
    return [str(d).removeprefix("sha256:") for d in deleted or []]


def _covers(deleted: list[str], short_ids: list[str]) -> bool:
    return all(any(d.startswith(s) for d in deleted) for s in short_ids)


def _all_image_ids(engine: Engine) -> list[str]:
    out = docker(engine.env, "images", "-aq", "--no-trunc").ok().stdout.split()
    return [i.removeprefix("sha256:") for i in out]


def test_prune_removes_an_untagged_builds_steps_and_reclaims_their_space(
        engine: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "untagged")
    ids = _build(engine, ctx)
    assert _cache_hits(engine, ctx) == 3
    report = _prune(engine)
    deleted = _deleted(report)
    assert _covers(deleted, ids), (ids, report)
    assert len(deleted) == 3, report
    reclaimed = report["SpaceReclaimed"]
    assert isinstance(reclaimed, int)
    # The RUN's file and COPY's 9 bytes; not the base image's layer.
    assert BLOB + len("untagged\n") <= reclaimed < BLOB + 4096, report
    left = _all_image_ids(engine)
    assert not any(i.startswith(s) for i in left for s in ids), left
    assert _prune(engine) == {"CachesDeleted": None, "SpaceReclaimed": 0}
    assert _cache_hits(engine, ctx) == 0


def test_prune_keeps_a_tagged_images_steps_and_all_forgets_them(
        engine: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "tagged")
    ids = _build(engine, ctx, "-t", "kept:1")
    assert _prune(engine) == {"CachesDeleted": None, "SpaceReclaimed": 0}
    assert all(any(i.startswith(s) for i in _all_image_ids(engine)) for s in ids)
    assert _cache_hits(engine, ctx, "-t", "kept:1") == 3
    _prune(engine, all="1")
    assert _cache_hits(engine, ctx, "-t", "kept:1") == 0
    run = docker(engine.env, "run", "--rm", "--network", "none", "kept:1", "cat", "/a")
    assert run.ok().stdout == "tagged\n"


def test_steps_kept_by_prune_all_are_reclaimed_once_their_tag_moves(
        engine: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "orphan")
    old = _build(engine, ctx, "-t", "orphan:1")
    _prune(engine, all="1")
    _build(engine, ctx, "-t", "orphan:1")  # not cached: a new chain takes the tag
    assert _covers(_deleted(_prune(engine)), old)


def test_a_changed_step_leaves_the_old_chain_to_prune(engine: Engine, tmp_path: Path) -> None:
    """Rebuilding with a changed COPY source moves the tag; the old COPY and
    ENV steps dangle and are pruned, the shared RUN step stays cached."""
    ctx = _context(tmp_path, "v1")
    old = _build(engine, ctx, "-t", "moved:1")
    (ctx / "a").write_text("v2\n")
    new = _build(engine, ctx, "-t", "moved:1")
    assert new[0] == old[0] and new[1:] != old[1:]
    deleted = _deleted(_prune(engine))
    assert _covers(deleted, old[1:]) and len(deleted) == 2, (old, new, deleted)
    assert _cache_hits(engine, ctx, "-t", "moved:1") == 3


def test_cache_survives_a_daemon_restart_and_is_pruned_after_it(
        engine: Engine, tmp_path: Path) -> None:
    ctx = _context(tmp_path, "restart")
    ids = _build(engine, ctx)
    engine.stop()
    engine.start()
    assert _cache_hits(engine, ctx) == 3
    assert _covers(_deleted(_prune(engine)), ids)
    assert _cache_hits(engine, ctx) == 0


# -- the CLIs ---------------------------------------------------------------------------


@pytest.mark.parametrize("cli", ["docker", "ketch"])
def test_builder_prune_command_lists_what_it_deleted(
        engine: Engine, tmp_path: Path, cli: str) -> None:
    ctx = _context(tmp_path, f"cli-{cli}")
    ids = _build(engine, ctx)

    def prune(*args: str, input: str | None = None) -> str:
        if cli == "docker":
            result = docker(engine.env, "builder", "prune", *args, input=input)
        else:
            result = ketch(engine, "builder", "prune", *args, input=input)
        assert result.returncode == 0, result.describe()
        return result.stdout

    declined = prune(input="n\n")
    assert "Are you sure you want to continue? [y/N]" in declined
    assert "Total reclaimed space" not in declined
    assert _cache_hits(engine, ctx) == 3
    out = prune("-f")
    lines = out.splitlines()
    assert lines[0] == "Deleted build cache objects:", out
    assert _covers([line.removeprefix("sha256:") for line in lines[1:4]], ids), out
    assert re.fullmatch(r"Total reclaimed space: 30\d(\.\d+)?kB", lines[-1]), out
    assert prune("-f").splitlines() == ["Total reclaimed space: 0B"]


def _builder_prune(engine: Engine, cli: str, *args: str, input: str | None = None) -> Result:
    """``builder prune ARGS`` with Docker's CLI or ours."""
    if cli == "docker":
        return docker(engine.env, "builder", "prune", *args, input=input)
    return ketch(engine, "builder", "prune", *args, input=input)


def test_ketch_builder_prune_prints_what_docker_prints(engine: Engine, tmp_path: Path) -> None:
    outputs = []
    for n, cli in enumerate(("docker", "ketch")):
        _build(engine, _context(tmp_path / str(n), f"same-output-{n}"))
        declined = _builder_prune(engine, cli, input="n\n")
        forced = _builder_prune(engine, cli, "-f")
        ids = re.compile(r"sha256:[0-9a-f]{64}")
        outputs.append((declined.returncode, declined.stdout, forced.returncode,
                        ids.sub("<ID>", forced.stdout)))
    assert outputs[1] == outputs[0]


# -- listing: system df ---------------------------------------------------------------------


def test_system_df_lists_the_cache_that_prune_removes(engine: Engine, tmp_path: Path) -> None:
    ids = _build(engine, _context(tmp_path, "df"))
    resp = engine.request("GET", "/v1.41/system/df?type=build-cache")
    assert resp.status == 200, resp.text
    records = resp.json()["BuildCache"]
    assert len(records) == 3, records
    for record in records:
        assert set(record) >= {"ID", "Type", "Size", "InUse", "Shared", "CreatedAt",
                               "LastUsedAt", "UsageCount"}, record
    listed = [str(r["ID"]).removeprefix("sha256:") for r in records]
    assert _covers(listed, ids)
    summary = docker(engine.env, "system", "df", "--format", "{{json .}}").ok().stdout
    rows = {row["Type"]: row for row in map(json.loads, summary.splitlines())}
    assert rows["Build Cache"]["TotalCount"] == "3", rows
    report = _prune(engine)
    assert sorted(_deleted(report)) == sorted(listed)
    assert report["SpaceReclaimed"] == sum(int(r["Size"]) for r in records)
    after = engine.request("GET", "/v1.41/system/df?type=build-cache").json()
    assert after["BuildCache"] == []


# -- parameters -------------------------------------------------------------------------


def _filters(value: dict[str, list[str]]) -> str:
    return json.dumps({k: dict.fromkeys(v, True) for k, v in value.items()})


@pytest.mark.parametrize("params", [
    {"filters": _filters({"until": ["24h"]})},
    {"filters": json.dumps({"unused-for": ["24h"]})},  # the legacy list form
    {"keep-storage": str(10 << 30)},
], ids=["until", "unused-for", "keep-storage"])
def test_prune_keeps_what_until_and_keep_storage_protect(
        engine: Engine, tmp_path: Path, params: dict[str, str]) -> None:
    """Steps made seconds ago are not unused for 24h, and 10 GiB to keep
    holds them all: nothing is pruned; without the parameter all of it is."""
    ctx = _context(tmp_path, "kept-by-" + "-".join(params))
    ids = _build(engine, ctx)
    assert _prune(engine, **params) == {"CachesDeleted": None, "SpaceReclaimed": 0}
    assert _cache_hits(engine, ctx) == 3
    assert _covers(_deleted(_prune(engine)), ids)


@pytest.mark.parametrize("params", [
    {"filters": _filters({"type": ["regular"]})},
    {"filters": _filters({"label": ["a=b"]})},
    {"filters": ""},
    {"keep-storage": "0"},
    {"all": "0"},
], ids=["type", "label", "empty-filters", "keep-nothing", "all-false"])
def test_prune_accepts_the_parameters_docker_accepts(
        engine: Engine, params: dict[str, str]) -> None:
    _prune(engine, **params)


@pytest.mark.parametrize(("params", "message"), [
    ({"filters": _filters({"foo": ["x"]})}, "invalid filter 'foo'"),
    ({"filters": _filters({"mutable": ["true"]})}, "invalid filter 'mutable'"),
    ({"filters": _filters({"until": ["1h"], "unused-for": ["1h"]})},
     'conflicting filters: "until" and "unused-for"'),
    ({"filters": _filters({"until": ["1h", "2h"]})}, "filters expect only one value"),
    ({"filters": _filters({"until": ["soon"]})},
     "\"until\" filter expects a duration (e.g., '24h')"),
    ({"keep-storage": "lots"}, "keep-storage is in bytes and expects an integer, got lots"),
    ({"filters": "{not json"}, ""),
], ids=["unknown-key", "hidden-key", "until-and-unused-for", "two-values", "bad-duration",
        "bad-keep-storage", "bad-json"])
def test_prune_refuses_bad_parameters_as_docker_does(
        engine: Engine, tmp_path: Path, params: dict[str, str], message: str) -> None:
    ids = _build(engine, _context(tmp_path, "bad-" + "-".join(params)))
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    resp = engine.request("POST", f"/v1.41/build/prune?{query}")
    assert resp.status == 400, resp.text
    assert message.lower() in resp.json()["message"].lower()
    assert _cache_hits(engine, _context(tmp_path, "bad-" + "-".join(params))) == 3, ids


# -- the space to keep, filters, records in detail -----------------------------------


def _records(engine: Engine, version: str = "1.50") -> dict[str, dict[str, object]]:
    """The build cache records of system df, by bare hex ID."""
    resp = engine.request("GET", f"/v{version}/system/df?type=build-cache")
    assert resp.status == 200, resp.text
    return {str(r["ID"]).removeprefix("sha256:"): r for r in resp.json()["BuildCache"]}


def _full(records: dict[str, dict[str, object]], short: str) -> str:
    (found,) = [i for i in records if i.startswith(short)]
    return found


@pytest.mark.parametrize(("version", "param"), [
    ("1.41", "keep-storage"), ("1.50", "keep-storage"), ("1.50", "reserved-space"),
    ("1.50", "max-used-space"),
])
def test_a_space_bound_prunes_the_least_recently_used_until_under_it(
        engine: Engine, tmp_path: Path, version: str, param: str) -> None:
    """Two builds share the RUN step; the first is used again, so the
    second's COPY and ENV are the least recently used. A bound just under
    the total takes those two (leaves first) and nothing else."""
    first = _build(engine, _context(tmp_path / "a", f"lru-a-{param}"))
    second = _build(engine, _context(tmp_path / "b", f"lru-b-{param}-longer"))
    assert second[0] == first[0]
    assert _cache_hits(engine, _context(tmp_path / "a", f"lru-a-{param}")) == 3
    records = _records(engine)
    assert len(records) == 5, records
    total = sum(int(str(r["Size"])) for r in records.values())
    copy_b = int(str(records[_full(records, second[1])]["Size"]))
    assert copy_b > 0
    report = engine.request(
        "POST", f"/v{version}/build/prune?{param}={total - copy_b + 1}").json()
    assert sorted(_deleted(report)) == sorted(_full(records, s) for s in second[1:]), report
    assert report["SpaceReclaimed"] == copy_b
    assert _cache_hits(engine, _context(tmp_path / "a", f"lru-a-{param}")) == 3


def test_before_api_1_48_only_keep_storage_bounds_a_prune(
        engine: Engine, tmp_path: Path) -> None:
    ids = _build(engine, _context(tmp_path, "old-api"))
    report = _prune_at(engine, "1.47", **{"reserved-space": str(10 << 30)})
    assert _covers(_deleted(report), ids), report


def _prune_at(engine: Engine, version: str, **params: str) -> dict[str, object]:
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    resp = engine.request("POST", f"/v{version}/build/prune?{query}")
    assert resp.status == 200, f"{resp.status} {resp.text}"
    report: dict[str, object] = resp.json()
    return report


@pytest.mark.parametrize(("free", "pruned"), [("1", False), (str(1 << 62), True)],
                         ids=["enough-free", "never-enough"])
def test_min_free_space_prunes_only_while_the_disk_lacks_it(
        engine: Engine, tmp_path: Path, free: str, pruned: bool) -> None:
    ids = _build(engine, _context(tmp_path, f"min-free-{pruned}"))
    report = _prune_at(engine, "1.50", **{"min-free-space": free})
    if pruned:
        assert _covers(_deleted(report), ids) and len(_deleted(report)) == 3, report
    else:
        assert report == {"CachesDeleted": None, "SpaceReclaimed": 0}


@pytest.mark.parametrize(("until", "pruned"), [
    ("2000-01-01T00:00:00Z", False),  # nothing was last used before then
    ("0s", True),
    (str(int(time.time()) + 3600), True),  # an hour from now: everything was used before
], ids=["timestamp-past", "zero", "future"])
def test_until_takes_timestamps_and_durations(
        engine: Engine, tmp_path: Path, until: str, pruned: bool) -> None:
    ids = _build(engine, _context(tmp_path, f"until-{until}"))
    report = _prune(engine, filters=_filters({"until": [until]}))
    assert bool(_deleted(report)) == pruned, report
    if pruned:
        assert _covers(_deleted(report), ids)


def test_record_filters_select_what_is_pruned(engine: Engine, tmp_path: Path) -> None:
    ids = _build(engine, _context(tmp_path, "filters"))
    records = _records(engine)
    env_step, copy_step = _full(records, ids[2]), _full(records, ids[1])
    # A step with a child is not pruned even when selected, the leaf is.
    assert _prune(engine, filters=_filters({"id": [copy_step[:16]]}))["CachesDeleted"] is None
    assert _deleted(_prune(engine, filters=_filters({"id": [env_step[:16]]}))) == [env_step]
    assert _prune(engine, filters=_filters({"inuse": [""]}))["CachesDeleted"] is None
    assert _prune(engine, filters=_filters({"shared": ["true"]}))["CachesDeleted"] is None
    described = str(records[copy_step]["Description"])
    assert "COPY" in described, records[copy_step]
    assert _prune(engine, filters=_filters({"description": ["nope"]}))["CachesDeleted"] is None
    report = _prune(engine, filters=_filters({"description": [described]}))
    assert _deleted(report) == [copy_step], report
    assert sorted(_deleted(_prune(engine, filters=_filters({"private": ["true"]})))) == [
        _full(records, ids[0])]


def test_df_records_have_dockers_shape_per_api_version(
        engine: Engine, tmp_path: Path) -> None:
    ids = _build(engine, _context(tmp_path, "df-shape"))
    run_step, copy_step, env_step = (_full(_records(engine), s) for s in ids)
    assert _cache_hits(engine, _context(tmp_path, "df-shape")) == 3
    new = _records(engine, "1.50")
    assert " Parents" not in new[run_step] and "Parent" not in new[run_step]
    assert new[copy_step][" Parents"] == ["sha256:" + run_step]
    assert new[env_step][" Parents"] == ["sha256:" + copy_step]
    for record in new.values():
        assert record["Type"] == "regular" and record["UsageCount"] == 2, record
        assert record["InUse"] is False and record["Shared"] is False, record
        assert str(record["LastUsedAt"]) > str(record["CreatedAt"]), record
    assert "dd if=/dev/zero" in str(new[run_step]["Description"])
    assert int(str(new[run_step]["Size"])) >= BLOB and new[env_step]["Size"] == 0
    old_resp = engine.request("GET", "/v1.41/system/df").json()
    old = {str(r["ID"]).removeprefix("sha256:"): r for r in old_resp["BuildCache"]}
    assert old[run_step]["Parent"] == "" and old[env_step]["Parent"] == "sha256:" + copy_step
    assert " Parents" not in old[env_step]
    assert old_resp["BuilderSize"] == sum(int(str(r["Size"])) for r in old.values())
    assert "BuilderSize" not in engine.request("GET", "/v1.50/system/df").json()
    # docker system df -v (Docker's CLI) lists the records and their parents.
    verbose = docker(engine.env, "system", "df", "-v", "--format",
                     "{{range .BuildCache}}{{.ID}} {{.Parent}}\n{{end}}").ok().stdout
    assert f"sha256:{env_step} sha256:{copy_step}\n" in verbose, verbose


def test_a_tag_shares_and_a_container_uses_the_steps_below_them(
        engine: Engine, tmp_path: Path) -> None:
    _build(engine, _context(tmp_path / "tagged", "shared-tagged"), "-t", "shared:1")
    records = _records(engine)
    assert all(r["Shared"] and not r["InUse"] for r in records.values()), records
    docker(engine.env, "rmi", "shared:1").ok()  # and its untagged parents
    assert _records(engine) == {}
    ids = _build(engine, _context(tmp_path / "used", "shared-used"))
    created = docker(engine.env, "create", "--network", "none", ids[1]).ok().stdout.strip()
    try:
        records = _records(engine)
        run_step, copy_step, env_step = (_full(records, s) for s in ids)
        assert records[run_step]["InUse"] and records[copy_step]["InUse"], records
        assert not records[env_step]["InUse"] and not records[env_step]["Shared"]
        assert _deleted(_prune(engine)) == [env_step]
        summary = docker(engine.env, "system", "df", "--format", "{{json .}}").ok().stdout
        rows = {row["Type"]: row for row in map(json.loads, summary.splitlines())}
        assert rows["Build Cache"]["Active"] == "2", rows
    finally:
        docker(engine.env, "rm", created).ok()
    assert _covers(_deleted(_prune(engine)), ids[:2])


def test_a_no_cache_rebuild_leaves_the_whole_old_chain_to_prune(
        engine: Engine, tmp_path: Path) -> None:
    """The rebuilt first step replaces the old one's entry; the old image
    stays the cache's (retired) and goes with the rest of its chain."""
    ctx = _context(tmp_path, "no-cache")
    old = _build(engine, ctx, "-t", "nocache:1")
    new = _build(engine, ctx, "--no-cache", "-t", "nocache:1")
    assert not set(old) & set(new)
    assert len(_records(engine)) == 6
    deleted = _deleted(_prune(engine))
    assert _covers(deleted, old) and len(deleted) == 3, (old, deleted)
    assert _cache_hits(engine, ctx, "-t", "nocache:1") == 3


def _errors(stderr: str) -> str:
    """stderr without the docker CLI's notice that the classic builder is deprecated."""
    return re.sub(r"\ADEPRECATED: .*?\n\n", "", stderr, flags=re.S)


@pytest.mark.parametrize("args", [
    ("-f", "--filter", "until=24h"),
    ("-f", "--keep-storage", "10GB"),
    ("-f", "--filter", "foo=bar"),
    ("-f", "--filter", "until=soon"),
    ("-a", "-f", "--filter", "unused-for=1h"),
    ("-a",),
], ids=["until", "keep-storage", "bad-filter", "bad-until", "all-unused-for", "all-prompt"])
def test_ketch_builder_prune_options_do_what_dockers_do(
        engine: Engine, tmp_path: Path, args: tuple[str, ...]) -> None:
    outputs = []
    for n, cli in enumerate(("docker", "ketch")):
        ctx = _context(tmp_path / str(n), f"options-{n}-" + "-".join(args))
        _build(engine, ctx)
        result = _builder_prune(engine, cli, *args, input="n\n")
        outputs.append((result.returncode, result.stdout, _errors(result.stderr),
                        _cache_hits(engine, ctx)))
        _prune(engine)
    assert outputs[1] == outputs[0]


def test_the_cache_table_migrates_from_schema_4(tmp_path: Path) -> None:
    """A data root made before usage counts and retired steps keeps its entries."""
    import sqlite3

    from ketch.build.cache import BuildCache
    from ketch.store.db import MIGRATIONS, Database

    path = tmp_path / "ketch.db"
    conn = sqlite3.connect(path)
    for script in MIGRATIONS[:4]:
        conn.executescript(script)
    conn.execute("INSERT INTO build_cache VALUES ('sha256:p', 'sha256:k', 'sha256:i', 1, 2)")
    conn.execute("PRAGMA user_version=4")
    conn.commit()
    conn.close()
    db = Database(path)
    try:
        cache = BuildCache(db)
        (entry,) = cache.entries()
        assert (entry.image_id, entry.usage_count, entry.retired) == ("sha256:i", 1, False)
        assert cache.lookup("sha256:p", "sha256:k") == "sha256:i"
        cache.retire(["sha256:i"])
        (entry,) = cache.entries()
        assert (entry.image_id, entry.usage_count, entry.retired) == ("sha256:i", 2, True)
        assert cache.lookup("sha256:p", "sha256:k") is None
    finally:
        db.close()

