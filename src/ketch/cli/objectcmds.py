"""What the commands on daemon objects (images, containers, networks, volumes) share.

The Docker CLI gives these commands the same pieces, and users see them
alike: ``--filter name=value`` flags, ``inspect`` (print what was found,
then the errors; ``--format`` over Docker's typed struct first, then over
the raw JSON), ``prune`` (a ``[y/N]`` prompt unless ``--force``, then
``Deleted <Kind>:`` and ``Total reclaimed space:``) and the natural sort
order of ``ls``. They are written once here.

Imports stay light (the CLI's start-up time): heavier modules are imported
in the functions that need them.
"""

from __future__ import annotations

from ketch.cli.env import Env
from ketch.cli.flags import CommandSpec, Flag, Parsed, UsageError
from ketch.errors import KetchError

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

    from ketch.cli.typedview import Field

    #: An inspect ``--format`` schema: the typed struct's fields and Go type name.
    Schema = tuple[list[Field], str]

FORMAT_HELP = "Format output using a custom template"
INSPECT_FORMAT_HELP = "Format output using a custom template"


# --- filters ---------------------------------------------------------------------------


def parse_filter(text: str) -> tuple[str, str]:
    """``--filter name=value``: the name is trimmed and lower-cased, as docker does."""
    if "=" not in text:
        raise ValueError("bad format of filter (expected name=value)")
    name, _, value = text.partition("=")
    return name.strip().lower(), value.strip()


def filter_flag(help_text: str = "Filter output based on conditions provided",
                short: str = "f") -> Flag:
    return Flag("filter", help_text, short=short, kind="filter", typename="filter",
                convert=parse_filter)


def filters_of(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The API's ``filters`` map from the flag's pairs (each value once, in order)."""
    out: dict[str, list[str]] = {}
    for name, value in pairs:
        values = out.setdefault(name, [])
        if value not in values:
            values.append(value)
    return out


# --- ls: natural order -----------------------------------------------------------------


def natural_less(a: str, b: str) -> bool:
    """``sortorder.NaturalLess``: digit runs compare as numbers, digits before letters."""
    x, y = a.encode(), b.encode()
    i = j = 0
    while i < len(x) and j < len(y):
        cx, cy = x[i], y[j]
        dx, dy = 48 <= cx <= 57, 48 <= cy <= 57
        if dx != dy:
            return dx
        if not dx:
            if cx != cy:
                return cx < cy
            i += 1
            j += 1
            continue
        while i < len(x) and x[i] == 48:
            i += 1
        while j < len(y) and y[j] == 48:
            j += 1
        start_x, start_y = i, j
        while i < len(x) and 48 <= x[i] <= 57:
            i += 1
        while j < len(y) and 48 <= y[j] <= 57:
            j += 1
        if i - start_x != j - start_y:
            return i - start_x < j - start_y
        if x[start_x:i] != y[start_y:j]:
            return x[start_x:i] < y[start_y:j]
        if start_x != start_y:
            return start_x < start_y
    return len(x) < len(y)


def natural_sorted(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """API objects sorted by ``Name`` in :func:`natural_less` order (``ls`` of
    volumes and networks)."""
    import functools

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        na, nb = str(a.get("Name") or ""), str(b.get("Name") or "")
        return -1 if natural_less(na, nb) else (1 if natural_less(nb, na) else 0)

    return sorted(objects, key=functools.cmp_to_key(compare))


# --- inspect ---------------------------------------------------------------------------


def inspect_spec(path: str, noun: str, extra: Sequence[Flag] = (),
                 format_help: str = INSPECT_FORMAT_HELP) -> CommandSpec:
    """``<noun> inspect``: ``--format`` (help *format_help*), then *extra* flags;
    one or more objects."""
    arg = noun.upper()
    return CommandSpec(
        path, f"inspect [OPTIONS] {arg} [{arg}...]",
        f"Display detailed information on one or more {noun}s",
        flags=[Flag("format", format_help, short="f", kind="string"), *extra],
        min_args=1,
    )


class NoSuchObject(Exception):
    """A ref a fetch found nowhere; its message is printed as it is."""


def inspect_objects(env: Env, refs: list[str], fmt: str,
                    fetch: Callable[[str], tuple[bytes, Schema | None]]) -> int:
    """Docker's ``inspect.Inspect``: fetch every ref, print what was found, then errors.

    *fetch* returns an object's raw JSON and the typed schema a ``--format``
    template runs over first (None: only the raw JSON); it raises a
    KetchError or :class:`NoSuchObject` for a ref that cannot be shown.
    """
    from ketch.cli.gotemplate import Template, TemplateError, parse
    from ketch.cli.messages import daemon_error_text

    tmpl: Template | None = None
    if fmt and fmt != "json":
        try:
            tmpl = parse(fmt)
        except TemplateError as exc:
            raise UsageError(f"template parsing error: {exc}", 64) from None
    errors: list[str] = []
    raws: list[str] = []
    rendered: list[str] = []
    for ref in refs:
        try:
            raw, schema = fetch(ref)
        except KetchError as exc:
            errors.append(daemon_error_text(exc))
            continue
        except NoSuchObject as exc:
            errors.append(str(exc))
            continue
        text = raw.decode()
        if tmpl is None:
            raws.append(text.strip())
            continue
        try:
            rendered.append(_render_inspect(tmpl, text, schema) + "\n")
        except TemplateError as exc:
            errors.append(f"template parsing error: {exc}")
    if tmpl is None:
        from ketch.cli.rawjson import compact, indent

        if not raws:
            env.out("[]\n")
        else:
            joined = "[" + ",".join(raws) + "]"
            env.out((compact(joined) if fmt == "json" else indent(joined)) + "\n")
    else:
        env.out("".join(rendered) if rendered else "\n")
    if errors:
        env.stdout.flush()
        env.err("\n".join(errors) + "\n")
        return 1
    return 0


def _render_inspect(tmpl: Any, text: str, schema: Schema | None) -> str:
    """Run over the typed view first; on failure over the raw JSON, as docker does."""
    import json

    from ketch.cli.goprint import loads_raw
    from ketch.cli.gotemplate import TemplateError
    from ketch.cli.typedview import typed_view

    if schema is not None:
        view = typed_view(json.loads(text), schema[0], schema[1])
        try:
            return str(tmpl.execute(view))
        except TemplateError:
            pass
    return str(tmpl.execute(loads_raw(text), missingkey_error=True))


# --- prune -------------------------------------------------------------------------------


def prune_spec(path: str, summary: str, filter_example: str,
              extra: Sequence[Flag] = ()) -> CommandSpec:
    """A ``prune`` command: *extra* flags, ``--filter`` (help showing
    *filter_example*) and ``--force``; no arguments."""
    return CommandSpec(
        path, "prune [OPTIONS]", summary,
        flags=[
            *extra,
            filter_flag(f'Provide filter values (e.g. "{filter_example}")', short=""),
            Flag("force", "Do not prompt for confirmation", short="f"),
        ],
        max_args=0,
    )


def confirm(env: Env, message: str) -> bool:
    """Docker's ``prompt.Confirm``: only an answer of y/Y continues."""
    env.out(message + " [y/N] ")
    env.stdout.flush()
    answer = env.stdin.readline()
    return answer.strip().lower() == "y"


def prune_confirmed(env: Env, p: Parsed, warning: str) -> bool:
    """Go on with a prune: ``--force`` was given or the user said yes to
    *warning*. Docker treats a "no" as a quiet cancellation (exit 0)."""
    return bool(p["force"]) or confirm(env, warning)


def print_pruned(env: Env, kind: str, deleted: list[str], reclaimed: int | None) -> None:
    """A prune's report: ``Deleted <kind>:``, one line per item and a blank
    line (nothing if none), then the space reclaimed unless *reclaimed* is
    None (networks take none). Docker counts the space only when something
    was deleted."""
    if deleted:
        env.out(f"Deleted {kind}:\n" + "".join(f"{item}\n" for item in deleted) + "\n")
    if reclaimed is not None:
        from ketch.cli import units

        env.out(f"Total reclaimed space: {units.human_size(reclaimed if deleted else 0)}\n")


__all__ = [
    "FORMAT_HELP",
    "INSPECT_FORMAT_HELP",
    "NoSuchObject",
    "confirm",
    "filter_flag",
    "filters_of",
    "inspect_objects",
    "inspect_spec",
    "natural_less",
    "natural_sorted",
    "parse_filter",
    "print_pruned",
    "prune_confirmed",
    "prune_spec",
]
