"""resolve_user(): Docker's User rules, and never a file outside the rootfs.

The captured Docker specs already check the main cases against Docker
itself (test_spec_docker: nobody, 1234:5678, alice with supplementary
groups, alice:staff with --group-add); here are the rest, and the hostile
images: /etc/passwd or /etc itself pointing out of the root filesystem.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ketch.containers.rootfs import mkdir_in_root, open_in_root, read_file_in_root
from ketch.containers.users import ResolvedUser, resolve_user
from ketch.errors import InvalidArgument

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin

nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1000:1000:Alice:/home/alice:/bin/sh
broken:x:notanumber:5::/:/bin/sh
"""
GROUP = """\
root:x:0:alice
daemon:x:1:
wheel:x:10:bob,alice
alice:x:1000:
nogroup:x:65534:
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text(PASSWD)
    (r / "etc/group").write_text(GROUP)
    return r


def test_docker_user_forms(root: Path) -> None:
    assert resolve_user(root, "") == ResolvedUser(0, 0, (0,), "/root")
    assert resolve_user(root, "root") == ResolvedUser(0, 0, (0,), "/root")
    assert resolve_user(root, "alice") == ResolvedUser(1000, 1000, (1000, 0, 10), "/home/alice")
    assert resolve_user(root, "1000") == ResolvedUser(1000, 1000, (1000, 0, 10), "/home/alice")
    assert resolve_user(root, "alice:wheel") == ResolvedUser(1000, 10, (10,), "/home/alice")
    assert resolve_user(root, "alice:1") == ResolvedUser(1000, 1, (1,), "/home/alice")
    assert resolve_user(root, "alice:4242") == ResolvedUser(1000, 4242, (4242,), "/home/alice")
    assert resolve_user(root, "4242") == ResolvedUser(4242, 0, (0,), "/")
    assert resolve_user(root, "4242:4343") == ResolvedUser(4242, 4343, (4343,), "/")
    assert resolve_user(root, "daemon", ["wheel", "55", "nogroup"]) == ResolvedUser(
        1, 1, (1, 10, 55, 65534), "/usr/sbin")


def test_docker_error_messages(root: Path) -> None:
    with pytest.raises(InvalidArgument) as e:
        resolve_user(root, "nobody2")
    assert e.value.message == "unable to find user nobody2: no matching entries in passwd file"
    with pytest.raises(InvalidArgument) as e:
        resolve_user(root, "alice:staff")
    assert e.value.message == "unable to find group staff: no matching entries in group file"
    with pytest.raises(InvalidArgument, match="must be in range 0-2147483647"):
        resolve_user(root, "-1")
    with pytest.raises(InvalidArgument, match="must be in range"):
        resolve_user(root, "1:99999999999")
    with pytest.raises(InvalidArgument, match="Unable to find group staff"):
        resolve_user(root, "", ["staff"])
    # a line with a bad uid is no entry at all
    with pytest.raises(InvalidArgument, match="unable to find user broken"):
        resolve_user(root, "broken")


def test_image_without_etc_files(tmp_path: Path) -> None:
    empty = tmp_path / "scratch"
    empty.mkdir()
    assert resolve_user(empty, "") == ResolvedUser(0, 0, (0,), "/")
    assert resolve_user(empty, "5:6") == ResolvedUser(5, 6, (6,), "/")
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        resolve_user(empty, "app")


def _host_secret(tmp_path: Path) -> Path:
    secret = tmp_path / "host-passwd"
    secret.write_text("evil:x:0:0::/:/bin/sh\n")
    return secret


def test_passwd_symlinks_stay_inside_the_root(root: Path, tmp_path: Path) -> None:
    secret = _host_secret(tmp_path)
    passwd = root / "etc/passwd"
    for target in (str(secret), "../" * 12 + str(secret).lstrip("/"), "/../" + secret.name,
                   "../../host-passwd"):
        passwd.unlink()
        passwd.symlink_to(target)
        with pytest.raises(InvalidArgument, match="unable to find user evil"):
            resolve_user(root, "evil")
    # the same absolute path, resolved inside the root, is fine
    inside = root / str(secret).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_text("app:x:7:8::/app:/bin/sh\n")
    passwd.unlink()
    passwd.symlink_to(str(secret))
    assert resolve_user(root, "app") == ResolvedUser(7, 8, (8,), "/app")


def test_etc_directory_symlink_stays_inside(root: Path, tmp_path: Path) -> None:
    host_etc = tmp_path / "host-etc"
    host_etc.mkdir()
    (host_etc / "passwd").write_text("evil:x:0:0::/:/bin/sh\n")
    (root / "etc/passwd").unlink()
    (root / "etc/group").unlink()
    (root / "etc").rmdir()
    (root / "etc").symlink_to("../../../../../../../../.." + str(host_etc))
    with pytest.raises(InvalidArgument, match="unable to find user evil"):
        resolve_user(root, "evil")
    (root / "real-etc").mkdir()
    (root / "real-etc/passwd").write_text("ok:x:3:3::/:/bin/sh\n")
    (root / "etc").unlink()
    (root / "etc").symlink_to("/../real-etc/../real-etc")
    assert resolve_user(root, "ok").uid == 3


def test_non_regular_or_huge_files_count_as_absent(root: Path) -> None:
    passwd = root / "etc/passwd"
    passwd.unlink()
    os.mkfifo(passwd)  # reading would block forever
    with pytest.raises(InvalidArgument, match="unable to find user alice"):
        resolve_user(root, "alice")
    passwd.unlink()
    passwd.symlink_to("passwd")  # a loop
    assert read_file_in_root(root, "/etc/passwd") is None
    passwd.unlink()
    passwd.write_bytes(b"x" * 100)
    assert read_file_in_root(root, "/etc/passwd", max_size=99) is None
    assert read_file_in_root(root, "/etc/passwd") == b"x" * 100


def test_open_in_root_creates_through_dangling_links(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "etc/new").symlink_to("../" * 20 + str(outside / "created").lstrip("/"))
    with pytest.raises(FileNotFoundError):  # as for open(2): the link's dir must exist
        open_in_root(root, "/etc/new", os.O_WRONLY | os.O_CREAT)
    (root / str(outside).lstrip("/")).mkdir(parents=True)
    fd = open_in_root(root, "/etc/new", os.O_WRONLY | os.O_CREAT)
    os.close(fd)
    assert not (outside / "created").exists()
    assert (root / str(outside / "created").lstrip("/")).is_file()


def test_mkdir_in_root_follows_links_inside(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "work").symlink_to("../../../../../../" + str(outside).lstrip("/"))
    mkdir_in_root(root, "/work/app/data", mode=0o750, uid=12, gid=34)
    assert list(outside.iterdir()) == []
    made = root / str(outside).lstrip("/") / "app/data"
    assert made.is_dir()
    st = made.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o750, 12, 34)
    mkdir_in_root(root, "/work/app/data")  # exists: nothing changes
    assert made.stat().st_mode & 0o777 == 0o750
    (root / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        mkdir_in_root(root, "/file/x")
