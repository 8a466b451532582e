"""Image commands: images/ls, inspect, history, tag, rmi, save, load, import, prune.

Each ``run_*`` takes the command's Env and parsed flags and returns an exit
code; daemon errors propagate as ``ketch.errors`` kinds and are printed by
``ketch.cli.main``. Output reproduces the Docker CLI 28 byte for byte where
the data allows.
"""

from __future__ import annotations

import os

from ketch.cli.env import PROG, Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.cli.objectcmds import FORMAT_HELP as FORMAT_HELP  # re-exported for system.py
from ketch.cli.objectcmds import INSPECT_FORMAT_HELP as INSPECT_FORMAT_HELP
from ketch.cli.objectcmds import (
    NoSuchObject,
    inspect_objects,
    inspect_spec,
    print_pruned,
    prune_confirmed,
    prune_spec,
)
from ketch.cli.objectcmds import filter_flag as filter_flag
from ketch.cli.objectcmds import filters_of as filters_of
from ketch.errors import KetchError, NotFound

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from ketch.cli.objectcmds import Schema

# --- images / image ls --------------------------------------------------------------


def spec_images(path: str, use: str) -> CommandSpec:
    return CommandSpec(
        path, use, "List images",
        flags=[
            Flag("all", "Show all images (default hides intermediate images)", short="a"),
            Flag("digests", "Show digests"),
            filter_flag(),
            Flag("format", FORMAT_HELP, kind="string"),
            Flag("no-trunc", "Don't truncate output"),
            Flag("quiet", "Only show image IDs", short="q"),
            Flag("tree", "List multi-platform images as a tree (EXPERIMENTAL)", hidden=True),
        ],
        max_args=1,
        aliases=f"{PROG} image ls, {PROG} image list, {PROG} images",
    )


_DEFAULT_IMAGE_TABLE = ("table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t"
                        "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}")
_DEFAULT_IMAGE_TABLE_DIGEST = ("table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t"
                               "{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t"
                               "{{.Size}}")


def image_format(source: str, quiet: bool, digest: bool) -> str:
    """Docker's ``NewImageFormat``."""
    if source == "table":
        if quiet:
            return "{{.ID}}"
        return _DEFAULT_IMAGE_TABLE_DIGEST if digest else _DEFAULT_IMAGE_TABLE
    if source == "raw":
        if quiet:
            return "image_id: {{.ID}}"
        lines = ["repository: {{ .Repository }}", "tag: {{.Tag}}"]
        if digest:
            lines.append("digest: {{.Digest}}")
        lines += ["image_id: {{.ID}}", "created_at: {{.CreatedAt}}",
                  "virtual_size: {{.Size}}", ""]
        return "\n".join(lines) + "\n"
    if source.startswith("table") and digest and "{{.Digest}}" not in source:
        return source + "\t{{.Digest}}"
    return source


_AMBIGUOUS = {"build", "history", "import", "inspect", "list", "load", "ls", "prune", "pull",
              "push", "rm", "save", "tag"}


def run_images(env: Env, p: Parsed) -> int:
    from ketch.cli.contexts import IMAGE_HEADERS, image_rows
    from ketch.cli.formatter import render_rows

    if p["tree"]:
        raise UsageError("--tree is not supported yet")
    filters = filters_of(p["filter"])
    match = p.args[0] if p.args else ""
    if match:
        filters.setdefault("reference", []).append(match)
    images = env.client.images.list(all=p["all"], filters=filters)
    fmt = image_format(p["format"] or "table", p["quiet"], p["digests"])
    rows = image_rows(images, trunc=not p["no_trunc"], digest=p["digests"],
                      need_digest=p["digests"] or "{{.Digest}}" in fmt)
    env.out(render_rows(fmt, rows, IMAGE_HEADERS))
    if match and not images and env.called_as == "images" and match in _AMBIGUOUS:
        env.err(f'\nNo images found matching "{match}": did you mean "{PROG} image {match}"?\n')
    return 0


# --- inspect ------------------------------------------------------------------


def spec_image_inspect(path: str) -> CommandSpec:
    return inspect_spec(path, "image", [
        Flag("platform", "Inspect a specific platform of the multi-platform image",
             kind="string")])


def spec_inspect(path: str) -> CommandSpec:
    return CommandSpec(
        path, "inspect [OPTIONS] NAME|ID [NAME|ID...]",
        "Return low-level information on ketch objects",
        flags=[
            Flag("format", INSPECT_FORMAT_HELP, short="f", kind="string"),
            Flag("size", "Display total file sizes if the type is container", short="s"),
            Flag("type", "Only inspect objects of the given type", kind="string"),
        ],
        min_args=1,
    )


_ALL_TYPES = ("config", "container", "image", "network", "node", "plugin", "secret",
              "service", "task", "volume")
#: Object kinds ``ketch inspect`` looks for, in docker's order, with their endpoints.
_INSPECTABLE = (("container", "/containers/{}/json"), ("image", "/images/{}/json"),
                ("network", "/networks/{}"), ("volume", "/volumes/{}"))


def inspect_schema(kind: str) -> Schema | None:
    """The typed struct ``inspect --format`` runs over for an object *kind*."""
    from ketch.cli.commands.network import NETWORK_INSPECT
    from ketch.cli.commands.volume import VOLUME_INSPECT
    from ketch.cli.typedview import CONTAINER_INSPECT, IMAGE_INSPECT

    return {"image": (IMAGE_INSPECT, "image.InspectResponse"),
            "container": (CONTAINER_INSPECT, "container.InspectResponse"),
            "network": (NETWORK_INSPECT, "network.Inspect"),
            "volume": (VOLUME_INSPECT, "volume.Volume")}.get(kind)


def _skippable(exc: KetchError) -> bool:
    text = str(exc)
    return (isinstance(exc, NotFound) or "not supported" in text
            or "invalid reference format" in text)


def run_image_inspect(env: Env, p: Parsed) -> int:
    if p["platform"]:
        raise UsageError("--platform is not supported yet")

    def fetch(ref: str) -> tuple[bytes, Schema | None]:
        return env.client.images.inspect_raw(ref), inspect_schema("image")

    return inspect_objects(env, p.args, p["format"], fetch)


def run_inspect(env: Env, p: Parsed) -> int:
    kind = p["type"]
    if kind and kind not in _ALL_TYPES:
        joined = '", "'.join(_ALL_TYPES)
        raise UsageError(f'unknown type: "{kind}": must be one of "{joined}"')
    candidates = [(k, path) for k, path in _INSPECTABLE if not kind or k == kind]
    if kind and not candidates:
        raise UsageError(f'{PROG} inspect --type {kind} is not supported yet')

    def fetch(ref: str) -> tuple[bytes, Schema | None]:
        for obj_kind, path in candidates:
            params = {"size": "1"} if obj_kind == "container" and p["size"] else None
            try:
                raw = env.client.get_raw(path.format(ref), params)
            except KetchError as exc:
                if not kind and _skippable(exc):
                    continue
                raise
            if p["size"] and obj_kind != "container":
                env.err(f"WARNING: --size ignored for {obj_kind}\n")
            return raw, inspect_schema(obj_kind)
        raise NoSuchObject(f"Error: No such object: {ref}")

    return inspect_objects(env, p.args, p["format"], fetch)


# --- history ------------------------------------------------------------------------


def spec_history(path: str) -> CommandSpec:
    return CommandSpec(
        path, "history [OPTIONS] IMAGE", "Show the history of an image",
        flags=[
            Flag("format", FORMAT_HELP, kind="string"),
            Flag("human", "Print sizes and dates in human readable format", short="H",
                 default=True),
            Flag("no-trunc", "Don't truncate output"),
            Flag("platform", "Show history for the given platform", kind="string"),
            Flag("quiet", "Only show image IDs", short="q"),
        ],
        min_args=1, max_args=1,
        aliases=f"{PROG} image history, {PROG} history",
    )


_DEFAULT_HISTORY = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
_NONHUMAN_HISTORY = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"


def run_history(env: Env, p: Parsed) -> int:
    from ketch.cli.contexts import HISTORY_HEADERS, HistoryContext
    from ketch.cli.formatter import render_rows

    if p["platform"]:
        raise UsageError("--platform is not supported yet")
    items = env.client.images.history(p.args[0])
    fmt = p["format"] or "table"
    if fmt == "table":
        if p["quiet"]:
            fmt = "{{.ID}}"
        elif not p["human"]:
            fmt = _NONHUMAN_HISTORY
        else:
            fmt = _DEFAULT_HISTORY
    rows = [HistoryContext(item, not p["no_trunc"], p["human"]) for item in items]
    env.out(render_rows(fmt, rows, HISTORY_HEADERS))
    return 0


# --- tag ------------------------------------------------------------------------------


def spec_tag(path: str) -> CommandSpec:
    return CommandSpec(
        path, "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
        "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
        min_args=2, max_args=2, interspersed=False,
        aliases=f"{PROG} image tag, {PROG} tag",
    )


def run_tag(env: Env, p: Parsed) -> int:
    from ketch.cli.reference import (
        ReferenceError,
        parse_any_reference,
        parse_normalized_named,
        with_default_tag,
    )

    source, target = p.args
    try:
        parse_any_reference(source)
    except ReferenceError as exc:
        raise UsageError(
            f'Error parsing reference: "{source}" is not a valid repository/tag: {exc}'
        ) from None
    try:
        ref = parse_normalized_named(target)
    except ReferenceError as exc:
        raise UsageError(
            f'Error parsing reference: "{target}" is not a valid repository/tag: {exc}'
        ) from None
    if ref.digest:
        raise UsageError("refusing to create a tag with a digest reference")
    ref = with_default_tag(ref)
    env.client.images.tag(source, ref.name, ref.tag)
    return 0


# --- rmi / image rm -------------------------------------------------------------------


def spec_rmi(path: str, use: str) -> CommandSpec:
    return CommandSpec(
        path, use, "Remove one or more images",
        flags=[
            Flag("force", "Force removal of the image", short="f"),
            Flag("no-prune", "Do not delete untagged parents"),
            Flag("platform", "Remove only the given platform variant", kind="list",
                 typename="strings"),
        ],
        min_args=1,
        aliases=f"{PROG} image rm, {PROG} image remove, {PROG} rmi",
    )


def run_rmi(env: Env, p: Parsed) -> int:
    from ketch.cli.messages import daemon_error_text

    if p["platform"]:
        raise UsageError("--platform is not supported yet")
    fatal = False
    errors: list[str] = []
    for name in p.args:
        try:
            deleted = env.client.images.remove(name, force=p["force"], noprune=p["no_prune"])
        except KetchError as exc:
            if not isinstance(exc, NotFound):
                fatal = True
            errors.append(daemon_error_text(exc))
            continue
        for item in deleted:
            if item.get("Deleted"):
                env.out(f"Deleted: {item['Deleted']}\n")
            else:
                env.out(f"Untagged: {item.get('Untagged', '')}\n")
    if errors:
        env.stdout.flush()
        env.err("\n".join(errors) + "\n")
        if not p["force"] or fatal:
            return 1
    return 0


# --- save / load / import ---------------------------------------------------------------


def spec_save(path: str) -> CommandSpec:
    return CommandSpec(
        path, "save [OPTIONS] IMAGE [IMAGE...]",
        "Save one or more images to a tar archive (streamed to STDOUT by default)",
        flags=[
            Flag("output", "Write to a file, instead of STDOUT", short="o", kind="string"),
            Flag("platform", "Save only the given platform variant", kind="string"),
        ],
        min_args=1,
        aliases=f"{PROG} image save, {PROG} save",
    )


def run_save(env: Env, p: Parsed) -> int:
    if p["platform"]:
        raise UsageError("--platform is not supported yet")
    output = p["output"]
    if not output:
        if env.stdout_is_terminal():
            raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        out = env.binary_stdout()
        env.client.images.save(p.args, out)
        out.flush()
        return 0
    # Like docker's atomic writer: a temp file beside the target, renamed when complete.
    directory = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(directory):
        raise UsageError(f"failed to save image: invalid output path: directory "
                         f'"{directory}" does not exist')
    tmp = os.path.join(directory, f".{os.path.basename(output)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            env.client.images.save(p.args, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


def spec_load(path: str) -> CommandSpec:
    return CommandSpec(
        path, "load [OPTIONS]", "Load an image from a tar archive or STDIN",
        flags=[
            Flag("input", "Read from tar archive file, instead of STDIN", short="i",
                 kind="string"),
            Flag("platform", "Load only the given platform variant", kind="string"),
            Flag("quiet", "Suppress the load output", short="q"),
        ],
        max_args=0,
        aliases=f"{PROG} image load, {PROG} load",
    )


def run_load(env: Env, p: Parsed) -> int:
    from ketch.cli import jsonmessage

    if p["platform"]:
        raise UsageError("--platform is not supported yet")
    path = p["input"]
    if not path and env.stdin_is_terminal():
        raise UsageError("requested load from stdin, but stdin is empty")
    quiet = p["quiet"] or not env.stdout_is_terminal()
    source = open(path, "rb") if path else env.binary_stdin()
    try:
        result = env.client.images.load(source, quiet=quiet)
        if result.is_json and result.messages is not None:
            jsonmessage.display(result.messages, env.stdout, env.stdout_is_terminal())
        elif result.chunks is not None:
            out = env.binary_stdout()
            for chunk in result.chunks:
                out.write(chunk)
            out.flush()
    finally:
        if path:
            source.close()
    return 0


def spec_import(path: str) -> CommandSpec:
    return CommandSpec(
        path, "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]",
        "Import the contents from a tarball to create a filesystem image",
        flags=[
            Flag("change", "Apply Dockerfile instruction to the created image", short="c",
                 kind="list", typename="list"),
            Flag("message", "Set commit message for imported image", short="m", kind="string"),
            Flag("platform", "Set platform if server is multi-platform capable",
                 kind="string"),
        ],
        min_args=1,
        aliases=f"{PROG} image import, {PROG} import",
    )


def run_import(env: Env, p: Parsed) -> int:
    from ketch.cli import jsonmessage
    from ketch.cli.reference import ReferenceError, parse_normalized_named

    source = p.args[0]
    ref = p.args[1] if len(p.args) > 1 else ""
    if ref:
        try:
            parse_normalized_named(ref)
        except ReferenceError as exc:
            raise UsageError(str(exc)) from None
    if source.startswith(("http://", "https://")):
        messages = env.client.images.import_image(
            None, from_src=source, repo=ref, message=p["message"], changes=p["change"],
            platform=p["platform"],
        )
        jsonmessage.display(messages, env.stdout, env.stdout_is_terminal())
        return 0
    if source == "-":
        stream = env.binary_stdin()
        messages = env.client.images.import_image(
            stream, repo=ref, message=p["message"], changes=p["change"], platform=p["platform"]
        )
        jsonmessage.display(messages, env.stdout, env.stdout_is_terminal())
        return 0
    try:
        fh = open(source, "rb")
    except OSError as exc:
        raise UsageError(f"open {source}: {exc.strerror.lower() if exc.strerror else exc}") \
            from None
    with fh:
        messages = env.client.images.import_image(
            fh, repo=ref, message=p["message"], changes=p["change"], platform=p["platform"]
        )
        jsonmessage.display(messages, env.stdout, env.stdout_is_terminal())
    return 0


# --- image prune ------------------------------------------------------------------------


def spec_prune(path: str) -> CommandSpec:
    return prune_spec(path, "Remove unused images", "until=<timestamp>", [
        Flag("all", "Remove all unused images, not just dangling ones", short="a")])


_ALL_WARNING = ("WARNING! This will remove all images without at least one container "
                "associated to them.\nAre you sure you want to continue?")
_DANGLING_WARNING = ("WARNING! This will remove all dangling images.\n"
                    "Are you sure you want to continue?")


def run_prune(env: Env, p: Parsed) -> int:
    filters = filters_of(p["filter"])
    filters["dangling"] = ["false" if p["all"] else "true"]
    if not prune_confirmed(env, p, _ALL_WARNING if p["all"] else _DANGLING_WARNING):
        return 0
    report = env.client.images.prune(filters)
    deleted = [f"untagged: {item['Untagged']}" if item.get("Untagged")
               else f"deleted: {item.get('Deleted', '')}"
               for item in report.get("ImagesDeleted") or []]
    print_pruned(env, "Images", deleted, int(report.get("SpaceReclaimed") or 0))
    return 0
