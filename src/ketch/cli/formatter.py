"""``--format`` handling shared by the listing commands (Docker's formatter.Context).

A format is ``table`` (the default columns), ``table TEMPLATE`` (a header row
plus rows, aligned by the tabwriter), ``json`` (one JSON object per row) or a
bare Go template (one rendered line per row). As in Docker, the literal
two-character sequences ``\\t`` and ``\\n`` in a format become a tab and a
newline, and the header row is rendered by running the same template over a
map of column titles.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ketch.cli.gotemplate import HEADER_FUNCS, Template, TemplateError, TemplateObject, parse
from ketch.cli.tabwriter import tabwrite

TABLE = "table"
JSON = "json"
JSON_TEMPLATE = "{{json .}}"


class FormatError(Exception):
    """A template that failed to parse or execute; the message is docker's."""


def is_table(fmt: str) -> bool:
    return fmt.startswith(TABLE)


def final_template(fmt: str) -> str:
    """Docker's ``preFormat``: drop the ``table`` prefix, map ``json``, unescape tabs/newlines."""
    text = fmt
    if is_table(fmt):
        text = fmt[len(TABLE):]
    elif fmt == JSON:
        text = JSON_TEMPLATE
    text = text.strip(" ")
    return text.replace("\\t", "\t").replace("\\n", "\n")


def compile_format(fmt: str) -> Template:
    try:
        return parse(final_template(fmt))
    except TemplateError as exc:
        raise FormatError(f"template parsing error: {exc}") from None


def render_rows(fmt: str, rows: Iterable[TemplateObject], header: Mapping[str, str]) -> str:
    """The text ``docker <list command> --format fmt`` prints for ``rows``."""
    tmpl = compile_format(fmt)
    body: list[str] = []
    for row in rows:
        try:
            body.append(tmpl.execute(row))
        except TemplateError as exc:
            raise FormatError(f"template parsing error: {exc}") from None
        body.append("\n")
    if not is_table(fmt):
        return "".join(body)
    return tabwrite(render_header(tmpl, header) + "\n" + "".join(body))


def render_header(tmpl: Template, header: Mapping[str, str]) -> str:
    """The header row: the template run over column titles; errors keep partial output."""
    try:
        return tmpl.execute(dict(header), funcs=HEADER_FUNCS)
    except TemplateError as exc:
        return str(getattr(exc, "partial", ""))
