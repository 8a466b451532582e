"""``ketch diff``: what a container changed in its filesystem (``docker diff``).

One ``<kind> <path>`` line per change (``C``, ``A`` or ``D``), in the
order the daemon lists them, as Docker CLI 28's default format prints them.
"""

from __future__ import annotations

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Parsed, UsageError

#: ``FilesystemChange.Kind`` as the docker CLI shows it; unknown kinds print empty.
_KINDS = {0: "C", 1: "A", 2: "D"}


def spec_diff(path: str) -> CommandSpec:
    return CommandSpec(
        path, "diff CONTAINER",
        "Inspect changes to files or directories on a container's filesystem",
        min_args=1, max_args=1,
        aliases=f"{PROG} container diff, {PROG} diff",
    )


def run_diff(env: Env, p: Parsed) -> int:
    from ketch.client.commit import CommitAPI

    if not p.args[0]:
        raise UsageError("Container name cannot be empty")
    found = CommitAPI(env.client).changes(p.args[0])
    env.out("".join(f"{_KINDS.get(c.get('Kind', -1), '')} {c.get('Path', '')}\n"
                    for c in found))
    return 0
