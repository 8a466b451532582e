"""Show a JSON message stream (load, import; later pull, push) as the Docker CLI does.

On a terminal, messages that carry progress and an ``id`` redraw their own
line (cursor moves, erase line); elsewhere, progress updates are dropped and
every other message is one line. ``aux`` messages are never shown. An error
item ends the display: the client raises it as ``StreamError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ketch.cli import units

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any, TextIO


def _terminal_width(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 200


def progress_string(detail: dict[str, Any], width: int) -> str:
    """``JSONProgress.String``: bar, byte counts and time left, as docker draws them."""
    import time

    current = int(detail.get("current") or 0)
    total = int(detail.get("total") or 0)
    unit = str(detail.get("units") or "")
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        if unit:
            return f"{current} {unit}"
        return f"{units.human_size(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    numbers = ""
    if detail.get("hidecounts"):
        numbers = ""
    elif not unit:
        cur_text, total_text = units.human_size(current), units.human_size(total)
        numbers = f"{cur_text:>8}" if current > total else f"{cur_text:>8}/{total_text}"
    else:
        numbers = f"{current} {unit}" if current > total else f"{current}/{total} {unit}"
    left = ""
    start = int(detail.get("start") or 0)
    if width > 50 and current > 0 and start > 0 and percentage < 50:
        per = (time.time() - start) / current
        remaining = round((total - current) * per)
        left = " " + _go_duration(remaining)
    return bar + numbers + left


def _go_duration(seconds: int) -> str:
    """Go's Duration.String for whole seconds: ``1h2m3s``, ``4m0s``, ``5s``."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def display(messages: Iterable[dict[str, Any]], out: TextIO, is_terminal: bool) -> None:
    """Docker's ``DisplayJSONMessagesStream``."""
    ids: dict[str, int] = {}
    width = _terminal_width(out) if is_terminal else 200
    for msg in messages:
        if msg.get("aux") is not None:
            continue
        diff = 0
        ident = str(msg.get("id") or "")
        detail = msg.get("progressDetail")
        has_progress = isinstance(detail, dict)
        if ident and (has_progress or msg.get("progress")):
            line = ids.get(ident)
            if line is None:
                line = len(ids)
                ids[ident] = line
                if is_terminal:
                    out.write("\n")
            diff = len(ids) - line
            if is_terminal and diff:
                out.write(f"\x1b[{diff}A")
        else:
            ids = {}
        _display_one(msg, out, is_terminal, width)
        if ident and is_terminal and diff:
            out.write(f"\x1b[{diff}B")
        out.flush()


def _display_one(msg: dict[str, Any], out: TextIO, is_terminal: bool, width: int) -> None:
    detail = msg.get("progressDetail")
    stream = str(msg.get("stream") or "")
    progress = progress_string(detail, width) if isinstance(detail, dict) else ""
    endl = ""
    if is_terminal and not stream and isinstance(detail, dict):
        out.write("\x1b[2K\r")
        endl = "\r"
    elif isinstance(detail, dict) and progress:
        return  # no progress bars off a terminal
    time_nano = int(msg.get("timeNano") or 0)
    time_secs = int(msg.get("time") or 0)
    if time_nano:
        out.write(units.rfc3339_nano_fixed(time_nano) + " ")
    elif time_secs:
        out.write(units.rfc3339_nano_fixed(time_secs * 1_000_000_000) + " ")
    if msg.get("id"):
        out.write(f"{msg['id']}: ")
    if msg.get("from"):
        out.write(f"(from {msg['from']}) ")
    status = str(msg.get("status") or "")
    if isinstance(detail, dict) and is_terminal:
        out.write(f"{status} {progress}{endl}")
    elif msg.get("progress"):
        out.write(f"{status} {msg['progress']}{endl}")
    elif stream:
        out.write(f"{stream}{endl}")
    else:
        out.write(f"{status}{endl}\n")
