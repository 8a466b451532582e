"""``ketch export``: a container's filesystem as a tar archive (``docker export``).

Without ``-o`` the tar goes to stdout, which must not be a terminal. With
``-o`` it is written the way Docker CLI 28's atomic writer does: the
destination is checked first (with its messages), the tar goes to a
temporary file beside it (mode 0600), which replaces the destination only
when the export succeeded and wrote something.
"""

from __future__ import annotations

import os

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import IO

    from ketch.client import Client


def spec_export(path: str) -> CommandSpec:
    return CommandSpec(
        path, "export [OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive",
        flags=[Flag("output", "Write to a file, instead of STDOUT", short="o", kind="string")],
        min_args=1, max_args=1,
        aliases=f"{PROG} container export, {PROG} export",
    )


def _go_errno_text(exc: OSError) -> str:
    """Go's syscall error strings are lower-case ("no such file or directory")."""
    text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


def check_destination(filename: str) -> None:
    """moby/sys atomicwriter's ``validateDestination``; UsageError with its message."""
    import stat

    if not filename:
        raise UsageError("failed to export container: file name is empty")
    directory = os.path.dirname(filename)
    directory = os.path.normpath(directory) if directory else "."
    if directory not in (".", ".."):
        try:
            st = os.stat(directory)
        except OSError as exc:
            raise UsageError(f"failed to export container: invalid output path: stat "
                             f"{directory}: {_go_errno_text(exc)}") from None
        if not stat.S_ISDIR(st.st_mode):
            raise UsageError(f"failed to export container: invalid output path: stat "
                             f"{directory}: not a directory")
    try:
        mode = os.lstat(filename).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise UsageError(f"failed to export container: failed to stat output path: lstat "
                         f"{filename}: {_go_errno_text(exc)}") from None
    refusal = _refusal(mode)
    if refusal:
        raise UsageError(f"failed to export container: {refusal}")


def _refusal(mode: int) -> str:
    import stat

    if stat.S_ISREG(mode):
        if mode & stat.S_ISUID:
            return "cannot write to a setuid file"
        if mode & stat.S_ISGID:
            return "cannot write to a setgid file"
        if mode & stat.S_ISVTX:
            return "cannot write to a sticky bit file"
        return ""
    for test, text in ((stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link directly"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device file"),
                       (stat.S_ISBLK, "a block device file")):
        if test(mode):
            return f"cannot write to {text}"
    return f"unknown file mode: {oct(mode)}"


def _export_to_file(client: Client, container: str, filename: str) -> None:
    import tempfile

    from ketch.client.commit import CommitAPI

    check_destination(filename)
    target = os.path.abspath(filename)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(filename),
                               dir=os.path.dirname(target))
    try:
        with os.fdopen(fd, "wb") as fh:
            written = CommitAPI(client).export(container, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        if written:
            os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run_export(env: Env, p: Parsed) -> int:
    from ketch.client.commit import CommitAPI

    container = p.args[0]
    output: str = p["output"]
    if output:
        _export_to_file(env.client, container, output)
        return 0
    if env.stdout_is_terminal():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    out: IO[bytes] = env.binary_stdout()
    CommitAPI(env.client).export(container, out)
    out.flush()
    return 0
