"""``ketch commit``: a new image from a container's changes (``docker commit``).

As with Docker CLI 28, the container name is checked and the new name is
parsed on the client side (``invalid reference format...``, a digest is
refused) before anything is sent, and the new image's ID is printed.
"""

from __future__ import annotations

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError


def spec_commit(path: str) -> CommandSpec:
    return CommandSpec(
        path, "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
        "Create a new image from a container's changes",
        flags=[
            Flag("author", 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")',
                 short="a", kind="string"),
            Flag("change", "Apply Dockerfile instruction to the created image", short="c",
                 kind="list", typename="list"),
            Flag("message", "Commit message", short="m", kind="string"),
            Flag("pause", "Pause container during commit", short="p", default=True),
        ],
        min_args=1, max_args=2, interspersed=False,
        aliases=f"{PROG} container commit, {PROG} commit",
    )


def run_commit(env: Env, p: Parsed) -> int:
    from ketch.cli.reference import ReferenceError, parse_normalized_named, with_default_tag
    from ketch.client.commit import CommitAPI
    from ketch.client.containers import check_id

    container = check_id(p.args[0])
    repo = tag = ""
    if len(p.args) > 1 and p.args[1]:
        try:
            ref = parse_normalized_named(p.args[1])
        except ReferenceError as exc:
            raise UsageError(str(exc)) from None
        if ref.digest:
            raise UsageError("refusing to create a tag with a digest reference")
        ref = with_default_tag(ref)
        repo, tag = ref.name, ref.tag
    result = CommitAPI(env.client).commit(
        container, repo=repo, tag=tag, comment=p["message"], author=p["author"],
        changes=p["change"], pause=p["pause"])
    env.out(f"{result.get('Id', '')}\n")
    return 0
