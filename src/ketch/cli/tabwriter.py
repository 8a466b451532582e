"""Elastic tabstops, as Go's ``text/tabwriter`` lays out the Docker CLI's tables.

Docker pipes each table through a tabwriter (minwidth 10, tabwidth 1,
padding 3, pad char ' ', no flags); column widths are decided per *block* of
consecutive lines that have a cell in that column, and the last cell of each
line is not part of any column. Reproducing that algorithm, not just
"max width per column", is what keeps our tables byte-identical to Docker's.
"""

from __future__ import annotations

import unicodedata


def text_width(text: str) -> int:
    """Display width: East Asian wide and fullwidth characters count two."""
    if text.isascii():
        return len(text)
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


class _Cell:
    __slots__ = ("htab", "text", "width")

    def __init__(self, text: str, htab: bool) -> None:
        self.text = text
        self.width = text_width(text)
        self.htab = htab


def tabwrite(text: str, minwidth: int = 10, tabwidth: int = 1, padding: int = 3,
             padchar: str = " ") -> str:
    """Align ``text`` (tab-separated cells, newline-separated lines) like Go's tabwriter."""
    del tabwidth  # only matters when padding with tabs, which Docker never does
    out: list[str] = []
    lines: list[list[_Cell]] = [[]]
    cell_start = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in "\t\v\n\f":
            lines[-1].append(_Cell(text[cell_start:i], ch == "\t"))
            cell_start = i + 1
            if ch in "\n\f":
                ncells = len(lines[-1])
                lines.append([])
                if ch == "\f" or ncells == 1:
                    # A line with a single cell ends a block: everything so far can be laid out.
                    _format(out, lines, minwidth, padding, padchar)
                    lines = [[]]
        i += 1
    if cell_start < n:
        lines[-1].append(_Cell(text[cell_start:], False))
    _format(out, lines, minwidth, padding, padchar)
    return "".join(out)


def _format(out: list[str], lines: list[list[_Cell]], minwidth: int, padding: int,
            padchar: str) -> None:
    widths: list[int] = []
    _format_block(out, lines, 0, len(lines), widths, minwidth, padding, padchar)


def _format_block(out: list[str], lines: list[list[_Cell]], line0: int, line1: int,
                  widths: list[int], minwidth: int, padding: int, padchar: str) -> None:
    column = len(widths)
    this = line0
    while this < line1:
        line = lines[this]
        if column >= len(line) - 1:
            this += 1
            continue
        # A cell exists in this column: print the lines before the block, then size it.
        _write_lines(out, lines, line0, this, widths, padchar)
        line0 = this
        width = minwidth
        while this < line1:
            line = lines[this]
            if column >= len(line) - 1:
                break
            width = max(width, line[column].width + padding)
            this += 1
        widths.append(width)
        _format_block(out, lines, line0, this, widths, minwidth, padding, padchar)
        widths.pop()
        line0 = this
    _write_lines(out, lines, line0, line1, widths, padchar)


def _write_lines(out: list[str], lines: list[list[_Cell]], line0: int, line1: int,
                 widths: list[int], padchar: str) -> None:
    for i in range(line0, line1):
        line = lines[i]
        for j, cell in enumerate(line):
            out.append(cell.text)
            if j < len(widths):
                out.append(padchar * (widths[j] - cell.width))
        if i + 1 < len(lines):
            out.append("\n")
