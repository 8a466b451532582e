"""``docker top``: the host's ``ps`` output, restricted to a container's processes."""

from __future__ import annotations

import asyncio
import shlex

from ketch.errors import InternalError, InvalidArgument


async def run_ps(ps_args: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    try:
        args = shlex.split(ps_args)
    except ValueError as exc:
        raise InvalidArgument(f"invalid ps arguments: {exc}") from None
    process = await asyncio.create_subprocess_exec(
        "ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await process.communicate()
    if process.returncode != 0:
        raise InternalError(f"Error running ps: {err.decode(errors='replace').strip()}")
    return parse_ps(out.decode(errors="replace"), pids)


def parse_ps(output: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """Split ``ps`` output into titles and the rows of ``pids`` (the last
    column, usually the command, keeps its spaces)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return [], []
    titles = lines[0].split()
    try:
        pid_column = titles.index("PID")
    except ValueError:
        raise InvalidArgument("Couldn't find PID field in ps output") from None
    rows: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        try:
            pid = int(fields[pid_column])
        except (ValueError, IndexError):
            continue
        if pid in pids:
            rows.append(fields)
    return titles, rows
