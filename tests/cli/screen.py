"""Replay terminal output onto a screen, for comparing progress displays.

Understands what docker's jsonmessage writes: text, ``\\r``, ``\\n``, cursor
up/down (``ESC[nA``/``ESC[nB``) and erase line (``ESC[2K``). Anything else
that looks like a control sequence fails the replay, so a new kind of output
cannot slip through unnoticed.
"""

from __future__ import annotations

import re

_CSI = re.compile(r"\x1b\[(\d*)([A-Za-z])")


def replay(text: str) -> list[str]:
    """The lines on screen after ``text`` was written to a fresh terminal."""
    lines: list[list[str]] = [[]]
    row = col = 0
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "\x1b":
            match = _CSI.match(text, pos)
            if match is None:
                raise ValueError(f"unknown escape at {pos}: {text[pos:pos + 10]!r}")
            count = int(match.group(1) or "1")
            op = match.group(2)
            if op == "A":
                row = max(0, row - count)
            elif op == "B":
                row += count
            elif op == "K" and match.group(1) == "2":
                lines[row] = []
            else:
                raise ValueError(f"unexpected sequence {match.group(0)!r}")
            while len(lines) <= row:
                lines.append([])
            pos = match.end()
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row += 1
            col = 0
            while len(lines) <= row:
                lines.append([])
        else:
            line = lines[row]
            while len(line) < col:
                line.append(" ")
            if col < len(line):
                line[col] = ch
            else:
                line.append(ch)
            col += 1
        pos += 1
    return ["".join(line).rstrip() for line in lines]
