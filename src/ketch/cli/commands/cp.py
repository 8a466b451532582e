"""``ketch cp``: copy files between a container and the local filesystem (``docker cp``).

The daemon only stats, tars and untars paths *in* the container; as in the
Docker CLI (28), the client decides what a copy means. Copying out, the
tar of ``SRC_PATH`` is extracted locally: into ``DEST_PATH`` if it is an
existing directory, else renamed to ``DEST_PATH`` (a file over a file, or a
directory to a new name); ``-`` writes the tar itself to stdout. Copying
in, the daemon is asked what ``DEST_PATH`` is (following one symlink), and
the local source is tarred, renamed the same way, and sent to the
directory it must be extracted in; ``-`` sends a tar read from stdin, to
an existing directory only. ``-L`` follows a symlink ``SRC_PATH``; ``-a``
asks the daemon to give the files the container user's uid and gid.

The rules and messages are those of moby's archive package (CopyInfo,
PrepareArchiveCopy, RebaseArchiveEntries): ``cannot copy directory``,
``no such directory``, ``invalid output path: ...``. Local extraction
never writes outside the destination directory: names that climb out
of it, links that lead out of it and parents that are symlinks leading
elsewhere are refused. Unless ``-q`` (or stdout is not a terminal), a
``Successfully copied <size> to <dest>`` line on stderr gives the bytes
the tar stream carried.
"""

from __future__ import annotations

import os
import posixpath

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Callable, Iterator
    from typing import IO, Any

    from ketch.client.archive import ArchiveAPI

_CHUNK = 1 << 20
_BLOCK = 512


def spec_cp(path: str) -> CommandSpec:
    return CommandSpec(
        path,
        "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n"
        f"\t{PROG} cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
        "Copy files/folders between a container and the local filesystem\n\n"
        "Use '-' as the source to read a tar archive from stdin\n"
        "and extract it to a directory destination in a container.\n"
        "Use '-' as the destination to stream a tar archive of a\n"
        "container source to stdout.",
        flags=[
            Flag("archive", "Archive mode (copy all uid/gid information)", short="a"),
            Flag("follow-link", "Always follow symbol link in SRC_PATH", short="L"),
            Flag("quiet", "Suppress progress output during copy. Progress output is "
                 "automatically suppressed if no terminal is attached", short="q"),
        ],
        min_args=2, max_args=2,
        aliases=f"{PROG} container cp, {PROG} cp",
    )


# -- paths the way Go's filepath and moby's archive package handle them ------------------


def _clean(path: str) -> str:
    """``filepath.Clean``."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


def _base(path: str) -> str:
    """``filepath.Base``."""
    if not path:
        return "."
    path = path.rstrip("/")
    return path.rsplit("/", 1)[-1] if path else "/"


def _dir(path: str) -> str:
    """``filepath.Dir``."""
    return _clean(path[: path.rfind("/") + 1]) if "/" in path else "."


def _specifies_current_dir(path: str) -> bool:
    return _base(path) == "."


def _preserve_trailing(cleaned: str, original: str) -> str:
    """moby's ``PreserveTrailingDotOrSeparator``."""
    if not _specifies_current_dir(cleaned) and _specifies_current_dir(original):
        if not cleaned.endswith("/"):
            cleaned += "/"
        cleaned += "."
    if not cleaned.endswith("/") and original.endswith("/"):
        cleaned += "/"
    return cleaned


def _split_dir_entry(path: str) -> tuple[str, str]:
    """moby's ``SplitPathDirEntry``: (dir, base), a trailing ``.`` kept as the base."""
    cleaned = _clean(path)
    if _specifies_current_dir(path):
        cleaned += "/."
    return _dir(cleaned), _base(cleaned)


def _asserts_directory(path: str) -> bool:
    return path.endswith("/") or _specifies_current_dir(path)


def _local_abs(path: str) -> str:
    return _preserve_trailing(_clean(os.path.join(os.getcwd(), path)), path)


def split_cp_arg(arg: str) -> tuple[str, str]:
    """(container, path); a local path with a ``:`` must start with ``/`` or ``.``."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def _os_error(op: str, path: str, exc: OSError) -> UsageError:
    """Go's ``*PathError`` text: ``lstat /x: no such file or directory``."""
    text = exc.strerror or str(exc)
    return UsageError(f"{op} {path}: {text[:1].lower()}{text[1:]}")


def _eval_symlinks(path: str) -> str:
    """``filepath.EvalSymlinks``: the real path; errors if a component is missing."""
    parts = [p for p in path.split("/") if p]
    current = "/" if path.startswith("/") else ""
    for part in parts:
        candidate = posixpath.join(current, part) if current else part
        try:
            os.lstat(candidate)
        except OSError as exc:
            raise _os_error("lstat", candidate, exc) from None
        current = candidate
    return _clean(os.path.realpath(path)) if path else "."


# -- what the source and the destination are ---------------------------------------------


class CopyInfo:
    """moby's ``CopyInfo``: a copy's source or destination."""

    def __init__(self, path: str, exists: bool = False, is_dir: bool = False,
                 rebase_name: str = "") -> None:
        self.path = path
        self.exists = exists
        self.is_dir = is_dir
        self.rebase_name = rebase_name


def _rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """moby's ``GetRebaseName``: *resolved* with *path*'s trailing ``/``/``/.``, and
    the name entries must take when following a symlink changed the base name."""
    if _specifies_current_dir(path) and not _specifies_current_dir(resolved):
        resolved += "/."
    if path.endswith("/") and not resolved.endswith("/"):
        resolved += "/"
    return resolved, (_base(path) if _base(path) != _base(resolved) else "")


def source_info(path: str, follow_link: bool) -> CopyInfo:
    """moby's ``CopyInfoSourcePath`` for a local source."""
    import stat

    if follow_link:
        resolved, rebase = _rebase_name(path, _eval_symlinks(path))
    else:
        head, tail = path[: path.rfind("/") + 1], path[path.rfind("/") + 1:]
        resolved = _eval_symlinks(head or ".") + "/" + tail
        rebase = _base(path) if path.endswith("/") and _base(path) != _base(resolved) else ""
    try:
        st = os.lstat(resolved)
    except OSError as exc:
        raise _os_error("lstat", resolved, exc) from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), rebase)


def destination_info(path: str) -> CopyInfo:
    """moby's ``CopyInfoDestinationPath`` for a local destination: symlinks at
    the end are followed (a dangling one names the file to create)."""
    import stat

    original = path
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _os_error("lstat", path, exc) from None
    hops = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        if hops > 10:
            raise UsageError(f"too many symlinks in {original}")
        hops += 1
        target = os.readlink(path)
        path = target if target.startswith("/") else _clean(
            _split_dir_entry(path)[0] + "/" + target)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise _os_error("lstat", path, exc) from None
    if st is None:
        parent = _split_dir_entry(path)[0]
        try:
            parent_st = os.stat(parent)
        except OSError as exc:
            raise _os_error("stat", parent, exc) from None
        if not stat.S_ISDIR(parent_st.st_mode):
            raise UsageError("not a directory")
        return CopyInfo(path)
    return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))


def _replace_first(old: str, new: str) -> Callable[[str], str]:
    """moby's ``RebaseArchiveEntries`` renaming (the first occurrence of *old*)."""
    if old == "/":
        old = ""

    def rename(name: str) -> str:
        return name.replace(old, new, 1) if old else new + name

    return rename


def prepare_copy(src: CopyInfo, dst: CopyInfo) -> tuple[str, Callable[[str], str] | None]:
    """moby's ``PrepareArchiveCopy``: the directory to extract into, and how the
    entries must be renamed (None: as they are)."""
    dst_dir, dst_base = _split_dir_entry(dst.path)
    src_base = src.rebase_name or _split_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise UsageError("cannot copy directory")
    if dst.exists or src.is_dir:
        return dst_dir, _replace_first(src_base, dst_base)
    if _asserts_directory(dst.path):
        raise UsageError("no such directory")
    return dst_dir, _replace_first(src_base, dst_base)


def validate_output_path(path: str) -> None:
    """The Docker CLI's ``ValidateOutputPath``: the parent exists, and the path is
    not something else than a directory or regular file."""
    import stat

    parent = _dir(_clean(path))
    if parent not in ("", ".") and not os.path.lexists(parent):
        raise UsageError(f'invalid output path: directory "{parent}" does not exist')
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _os_error("stat", path, exc) from None
    if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode):
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        raise UsageError(f'invalid output path: "{path}" must be a directory or a '
                         "regular file: got a device")


# -- a local tree as a tar stream ---------------------------------------------------------


def _walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """``filepath.WalkDir``: *root* (lstat'ed) and everything below it, pre-order,
    names sorted, symlinks not followed; what cannot be read is skipped."""
    import stat

    try:
        st = os.lstat(root)
    except OSError:
        return
    pending = [(root, st)]
    while pending:
        path, st = pending.pop()
        yield path, st
        if not stat.S_ISDIR(st.st_mode):
            continue
        try:
            names = sorted(os.listdir(path))
        except OSError:
            continue
        children: list[tuple[str, os.stat_result]] = []
        for name in names:
            child = _clean(path + "/" + name)
            try:
                children.append((child, os.lstat(child)))
            except OSError:
                continue
        pending.extend(reversed(children))


def tar_resource(info: CopyInfo) -> Iterator[bytes]:
    """moby's ``TarResource``: the tar of *info*'s path, entries named from its
    base name (or ``rebase_name``), as the daemon's extraction expects."""
    import stat
    import tarfile

    src_dir, base = _split_dir_entry(info.path)
    walk_root = src_dir.rstrip("/") + "/" + base
    seen: dict[tuple[int, int], str] = {}
    for path, st in _walk(walk_root):
        rel = posixpath.relpath(_clean(path), src_dir) if path != walk_root else base
        if base == "." and rel != ".":
            rel = "./" + rel
        if info.rebase_name:
            rel = rel.replace(base, info.rebase_name, 1)
        member = tarfile.TarInfo(rel)
        member.mode = stat.S_IMODE(st.st_mode)
        member.uid, member.gid = st.st_uid, st.st_gid
        member.mtime = int(st.st_mtime)
        fmt = stat.S_IFMT(st.st_mode)
        key = (st.st_dev, st.st_ino)
        if fmt != stat.S_IFDIR and st.st_nlink > 1 and key in seen:
            member.type, member.linkname = tarfile.LNKTYPE, seen[key]
        elif fmt == stat.S_IFREG:
            member.size = st.st_size
            if st.st_nlink > 1:
                seen[key] = rel
        elif fmt == stat.S_IFDIR:
            member.type = tarfile.DIRTYPE
        elif fmt == stat.S_IFLNK:
            member.type, member.linkname = tarfile.SYMTYPE, os.readlink(path)
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            member.type = tarfile.CHRTYPE if fmt == stat.S_IFCHR else tarfile.BLKTYPE
            member.devmajor, member.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif fmt == stat.S_IFIFO:
            member.type = tarfile.FIFOTYPE
        else:
            continue  # sockets have no tar entry
        if member.type == tarfile.REGTYPE and member.size:
            try:
                handle = open(path, "rb")
            except OSError:
                continue
            with handle:
                yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
                left = member.size
                while left:
                    chunk = handle.read(min(_CHUNK, left)) or bytes(min(_CHUNK, left))
                    left -= len(chunk)
                    yield chunk
                yield bytes(-member.size % _BLOCK)
        else:
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    yield bytes(2 * _BLOCK)


# -- extracting a tar locally ------------------------------------------------------------


def _inside(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


def _remove(path: str) -> None:
    import shutil
    import stat

    if stat.S_ISDIR(os.lstat(path).st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _create(member: tarfile.TarInfo, tar: tarfile.TarFile, path: str, dest: str) -> None:
    """moby's ``createTarFile`` without chown (``NoLchown``)."""
    import stat

    mode = member.mode & 0o7777
    if member.isdir():
        if not os.path.isdir(path) or os.path.islink(path):
            os.mkdir(path, 0o700)
    elif member.isreg():
        data = tar.extractfile(member)
        with open(path, "xb") as out:
            left = member.size
            while left and data is not None:
                chunk = data.read(min(_CHUNK, left))
                if not chunk:
                    raise UsageError("unexpected EOF")
                out.write(chunk)
                left -= len(chunk)
    elif member.issym():
        target = _clean(posixpath.dirname(path) + "/" + member.linkname)
        if not member.linkname.startswith("/") and not _inside(target, dest):
            raise UsageError(f'invalid symlink "{path}" -> "{member.linkname}"')
        os.symlink(member.linkname, path)
    elif member.islnk():
        target = _clean(dest + "/" + member.linkname)
        if not _inside(target, dest) or not _inside(os.path.realpath(target),
                                                    os.path.realpath(dest)):
            raise UsageError(f'invalid hardlink "{target}" -> "{member.linkname}"')
        os.link(target, path, follow_symlinks=False)
    elif member.ischr() or member.isblk():
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(path, kind | mode, os.makedev(member.devmajor, member.devminor))
    elif member.isfifo():
        os.mkfifo(path, mode)
    else:
        raise UsageError(f"unhandled tar header type {member.type!r}")
    if not member.issym() and not member.islnk():
        os.chmod(path, mode)
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            try:  # noqa: SIM105 - contextlib costs startup time
                os.setxattr(path, key[len("SCHILY.xattr."):],
                            value.encode("utf-8", "surrogateescape"), follow_symlinks=False)
            except OSError:
                pass  # as Docker: a filesystem that takes no xattrs of this kind
    if not member.isdir():
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=not member.issym())


def untar(source: IO[bytes], dest: str, rename: Callable[[str], str] | None) -> None:
    """moby's ``Untar`` with ``NoLchown`` and ``NoOverwriteDirNonDir``, entries
    renamed by *rename* first; nothing is written outside *dest*."""
    import stat
    import tarfile

    real_dest = os.path.realpath(dest)
    dirs: list[tuple[str, float]] = []
    try:
        with tarfile.open(fileobj=source, mode="r|*", encoding="utf-8",
                          errors="surrogateescape") as tar:
            for member in tar:
                name = member.name + ("/" if member.isdir() else "")
                if rename is not None:
                    name = rename(name)
                    if member.islnk():
                        member.linkname = rename(member.linkname)
                name = _clean(name)
                parent = _clean(dest + "/" + _dir(name))
                if not os.path.lexists(parent):
                    os.makedirs(parent, 0o755, exist_ok=True)
                path = _clean(dest + "/" + name)
                if not _inside(path, _clean(dest)) or \
                        not _inside(os.path.realpath(parent), real_dest):
                    raise UsageError(f'"{name}" is outside of "{dest}"')
                try:
                    existing: os.stat_result | None = os.lstat(path)
                except FileNotFoundError:
                    existing = None
                if existing is not None:
                    is_dir = stat.S_ISDIR(existing.st_mode)
                    if is_dir and not member.isdir():
                        raise UsageError(f'cannot overwrite directory "{path}" with '
                                         f'non-directory "{dest}"')
                    if not is_dir and member.isdir():
                        raise UsageError(f'cannot overwrite non-directory "{path}" with '
                                         f'directory "{dest}"')
                    if is_dir and name == ".":
                        continue
                    if not (is_dir and member.isdir()):
                        _remove(path)
                _create(member, tar, path, _clean(dest))
                if member.isdir():
                    dirs.append((path, member.mtime))
    except tarfile.TarError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        raise _os_error("open", str(exc.filename), exc) from None
    for path, mtime in dirs:
        os.utime(path, (mtime, mtime))


# -- the command ---------------------------------------------------------------------------


class _Counter:
    """Bytes a tar stream carried: what the summary line reports."""

    def __init__(self) -> None:
        self.count = 0

    def counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.count += len(chunk)
            yield chunk


def _summary(env: Env, size: int, dest: str) -> None:
    from ketch.cli.units import human_size_with_precision

    env.err(f"Successfully copied {human_size_with_precision(size, 3)} to {dest}\n")


def _stat(api: ArchiveAPI, container: str, path: str) -> dict[str, Any] | None:
    """The daemon's stat of *path*, or None: the Docker CLI ignores a failed stat
    (the copy itself then says what is wrong)."""
    from ketch.errors import KetchError

    try:
        return api.stat_path(container, path)
    except KetchError:
        return None


def _mode(found: dict[str, Any] | None) -> int:
    value = found.get("mode", 0) if found is not None else 0
    return value if isinstance(value, int) else 0


def _link_target(found: dict[str, Any], path: str) -> str:
    """A symlink's target as the CLI uses it: relative ones joined to *path*'s parent."""
    target = str(found.get("linkTarget", ""))
    return target if target.startswith("/") else _clean(_split_dir_entry(path)[0] + "/" + target)


def _copy_from(env: Env, container: str, src: str, dst: str, follow: bool,
               quiet: bool) -> int:
    from ketch.client.archive import MODE_DIR, MODE_SYMLINK, ArchiveAPI, chunk_file

    if dst != "-":
        dst = _local_abs(dst)
    validate_output_path(dst)
    api = ArchiveAPI(env.client)
    rebase = ""
    if follow:
        found = _stat(api, container, src)
        if found is not None and _mode(found) & MODE_SYMLINK:
            src, rebase = _rebase_name(src, _link_target(found, src))
    stat_, resp = api.get_archive(container, src)
    try:
        if dst == "-":
            out = env.binary_stdout()
            for chunk in resp.iter_chunks():
                out.write(chunk)
            out.flush()
            return 0
        info = CopyInfo(src, True, bool(_mode(stat_) & MODE_DIR), rebase)
        counter = _Counter()
        renames: list[Callable[[str], str]] = []
        if rebase:
            renames.append(_replace_first(_split_dir_entry(src)[1], rebase))
        failure: UsageError | None = None
        try:
            dst_dir, rename = prepare_copy(info, destination_info(dst))
            if rename is not None:
                renames.append(rename)
            untar(chunk_file(counter.counted(resp.iter_chunks())), dst_dir, _compose(renames))
        except UsageError as exc:
            failure = exc
    finally:
        resp.close()
    if not quiet:
        _summary(env, counter.count, dst)
    if failure is not None:
        raise failure
    return 0


def _compose(renames: list[Callable[[str], str]]) -> Callable[[str], str] | None:
    if not renames:
        return None

    def rename(name: str) -> str:
        for step in renames:
            name = step(name)
        return name

    return rename


def _copy_to(env: Env, container: str, src: str, dst: str, follow: bool, quiet: bool,
             copy_uid_gid: bool) -> int:
    from ketch.client.archive import MODE_DEVICE, MODE_DIR, MODE_SYMLINK, ArchiveAPI, chunk_file
    from ketch.errors import KetchError

    if src != "-":
        src = _local_abs(src)
    api = ArchiveAPI(env.client)
    dst_info = CopyInfo(dst)
    found = _stat(api, container, dst)
    if found is not None and _mode(found) & MODE_SYMLINK:
        dst_info.path = _link_target(found, dst)
        found = _stat(api, container, dst_info.path)
    if found is not None:
        if _mode(found) & MODE_DEVICE:
            raise UsageError(f'destination "{container}:{dst}" must be a directory or a '
                             "regular file: got a device")
        dst_info.exists, dst_info.is_dir = True, bool(_mode(found) & MODE_DIR)
    counter = _Counter()
    if src == "-":
        if not dst_info.is_dir:
            raise UsageError(f'destination "{container}:{dst}" must be a directory')
        body = env.binary_stdin()
        target_dir = dst_info.path
    else:
        src_info = source_info(src, follow)
        target_dir, rename = prepare_copy(src_info, dst_info)
        chunks = tar_resource(src_info)
        if rename is not None:
            chunks = _renamed(chunks, rename)
        body = chunk_file(counter.counted(chunks))
    failure: KetchError | None = None
    try:
        api.put_archive(container, target_dir, body, copy_uid_gid=copy_uid_gid)
    except KetchError as exc:
        failure = exc
    if not quiet:
        _summary(env, counter.count, f"{container}:{dst_info.path}")
    if failure is not None:
        raise failure
    return 0


def _renamed(chunks: Iterator[bytes], rename: Callable[[str], str]) -> Iterator[bytes]:
    """The tar in *chunks* with entry names (and hard link targets) renamed."""
    import tarfile

    from ketch.client.archive import chunk_file

    with tarfile.open(fileobj=chunk_file(chunks), mode="r|", encoding="utf-8",
                      errors="surrogateescape") as tar:
        for member in tar:
            member.name = rename(member.name + ("/" if member.isdir() else ""))
            if member.islnk():
                member.linkname = rename(member.linkname)
            member.pax_headers = {k: v for k, v in member.pax_headers.items()
                                  if k not in ("path", "linkpath")}
            yield member.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            if member.isreg() and member.size:
                data = tar.extractfile(member)
                left = member.size
                while left and data is not None:
                    chunk = data.read(min(_CHUNK, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    yield chunk
                yield bytes(-member.size % _BLOCK)
    yield bytes(2 * _BLOCK)


def run_cp(env: Env, p: Parsed) -> int:
    source, destination = p.args
    if not source:
        raise UsageError("source can not be empty")
    if not destination:
        raise UsageError("destination can not be empty")
    quiet = bool(p["quiet"]) if "quiet" in p.changed else not env.stdout_is_terminal()
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(destination)
    if src_container and dst_container:
        raise UsageError("copying between containers is not supported")
    if src_container:
        return _copy_from(env, src_container, src_path, dst_path, p["follow_link"], quiet)
    if dst_container:
        return _copy_to(env, dst_container, src_path, dst_path, p["follow_link"], quiet,
                        p["archive"])
    raise UsageError("must specify at least one container source")
