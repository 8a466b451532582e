"""Small re-implementations of Go library behaviour that Docker's text depends on.

Docker's Dockerfile handling leans on Go's ``unicode.IsSpace``,
``strconv.Quote``, ``fmt``'s ``%q``/``%v``, ``time.ParseDuration`` and
``Duration.String``, ``strconv.ParseInt`` and ``path.Clean``. Their exact
output shows up in error messages, in ``Step n/m`` lines and in image history
(``HEALTHCHECK &{["CMD-SHELL" "x"] "5s" ...}``), so matching Docker means
matching them, character for character. Everything here is written from the
Go documentation and behaviour, in plain Python.

Strings that came from a Dockerfile may hold undecodable bytes as lone
surrogates (``surrogateescape``); the quoting helpers render those as the
``\\xNN`` escapes Go prints for invalid UTF-8.
"""

from __future__ import annotations

import re

#: Go's unicode.IsSpace: the Latin-1 spaces plus Unicode White_Space.
_GO_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def is_space(ch: str) -> bool:
    """Go's ``unicode.IsSpace`` for one character."""
    return ch in _GO_SPACES


def lstrip(s: str) -> str:
    """Go's ``strings.TrimLeftFunc(s, unicode.IsSpace)``."""
    i = 0
    while i < len(s) and s[i] in _GO_SPACES:
        i += 1
    return s[i:]


def strip(s: str) -> str:
    """Go's ``strings.TrimSpace``."""
    i, j = 0, len(s)
    while i < j and s[i] in _GO_SPACES:
        i += 1
    while j > i and s[j - 1] in _GO_SPACES:
        j -= 1
    return s[i:j]


# -- quoting ---------------------------------------------------------------

_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _escape_char(ch: str, quote: str) -> str:
    code = ord(ch)
    if ch == quote or ch == "\\":
        return "\\" + ch
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if ch.isprintable():
        return ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:  # Go never holds a surrogate: RuneError
        return "\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def quote(s: str) -> str:
    """Go's ``strconv.Quote`` (and ``fmt``'s ``%q`` on a string)."""
    return '"' + "".join(_escape_char(ch, '"') for ch in s) + '"'


def quote_rune(value: int) -> str:
    """``fmt``'s ``%q`` on an integer: a single-quoted character literal."""
    if value < 0 or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
        value = 0xFFFD
    return "'" + _escape_char(chr(value), "'") + "'"


def quote_list(items: list[str] | tuple[str, ...] | None) -> str:
    """``fmt``'s ``%q`` on a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(quote(s) for s in (items or ())) + "]"


def format_list(items: list[str] | tuple[str, ...] | None) -> str:
    """``fmt``'s ``%v`` on a ``[]string``: ``[a b]``."""
    return "[" + " ".join(items or ()) + "]"


def time_quote(s: str) -> str:
    """The quoting the ``time`` package uses in its error messages.

    Unlike ``strconv.Quote`` it escapes every non-ASCII or control byte as
    ``\\xNN`` and only backslash-escapes ``"`` and ``\\``.
    """
    out = ['"']
    for ch in s:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code >= 0x80 or code < 0x20:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            if ch in '"\\':
                out.append("\\")
            out.append(ch)
    out.append('"')
    return "".join(out)


# -- time.Duration ---------------------------------------------------------

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}

_MAX_U63 = 1 << 63


class DurationError(ValueError):
    """``time.ParseDuration`` refused the text; the message is Go's."""


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration``, in nanoseconds, with Go's error messages."""
    orig = text
    s = text
    neg = False
    invalid = DurationError("time: invalid duration " + time_quote(orig))
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        # integer part: [0-9]*
        i = 0
        value = 0
        while i < len(s) and "0" <= s[i] <= "9":
            if value > _MAX_U63 // 10:
                raise invalid
            value = value * 10 + ord(s[i]) - 48
            if value > _MAX_U63:
                raise invalid
            i += 1
        pre = i > 0
        s = s[i:]
        # fraction: (\.[0-9]*)?
        frac, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i = 0
            overflow = False
            while i < len(s) and "0" <= s[i] <= "9":
                if not overflow:
                    if frac > (_MAX_U63 - 1) // 10:
                        overflow = True
                    else:
                        nxt = frac * 10 + ord(s[i]) - 48
                        if nxt > _MAX_U63:
                            overflow = True
                        else:
                            frac = nxt
                            scale *= 10
                i += 1
            post = i > 0
            s = s[i:]
        if not pre and not post:
            raise invalid
        # unit
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise DurationError("time: missing unit in duration " + time_quote(orig))
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError(
                "time: unknown unit " + time_quote(unit_text) + " in duration " + time_quote(orig)
            )
        if value > _MAX_U63 // unit:
            raise invalid
        value *= unit
        if frac > 0:
            value += int(float(frac) * (float(unit) / scale))
            if value > _MAX_U63:
                raise invalid
        total += value
        if total > _MAX_U63:
            raise invalid
    if neg:
        return -total
    if total > _MAX_U63 - 1:
        raise invalid
    return total


def _frac(value: int, prec: int) -> tuple[str, int]:
    """Go's fmtFrac: the ``.ddd`` part of value/10**prec without trailing zeros."""
    digits = []
    printed = False
    for _ in range(prec):
        digit = value % 10
        printed = printed or digit != 0
        if printed:
            digits.append(str(digit))
        value //= 10
    text = ("." + "".join(reversed(digits))) if printed else ""
    return text, value


def format_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` (``1h2m3.5s``, ``1.5ms``, ``0s``)."""
    if ns == 0:
        return "0s"
    neg = ns < 0
    u = -ns if neg else ns
    if u < SECOND:
        if u < MICROSECOND:
            prec, unit = 0, "ns"
        elif u < MILLISECOND:
            prec, unit = 3, "\u00b5s"
        else:
            prec, unit = 6, "ms"
        frac, u = _frac(u, prec)
        text = f"{u}{frac}{unit}"
    else:
        frac, u = _frac(u, 9)
        text = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            text = f"{u % 60}m" + text
            u //= 60
            if u > 0:
                text = f"{u}h" + text
    return "-" + text if neg else text


# -- strconv.ParseInt ------------------------------------------------------

_INT_RE = re.compile(r"[+-]?[0-9]+\Z")


class IntError(ValueError):
    """``strconv.ParseInt`` refused the text; the message is Go's."""


def parse_int(text: str, bits: int = 64) -> int:
    """Go's ``strconv.ParseInt(text, 10, bits)`` with Go's error messages."""
    if not _INT_RE.match(text):
        raise IntError(f"strconv.ParseInt: parsing {quote(text)}: invalid syntax")
    value = int(text)
    limit = 1 << (bits - 1)
    if value >= limit or value < -limit:
        raise IntError(f"strconv.ParseInt: parsing {quote(text)}: value out of range")
    return value


# -- path ------------------------------------------------------------------


def clean_path(path: str) -> str:
    """Go's ``path.Clean`` (unlike ``posixpath.normpath``, ``//x`` becomes ``/x``)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def join_path(*elems: str) -> str:
    """Go's ``path.Join``: the non-empty elements joined with ``/``, cleaned."""
    kept = [e for e in elems if e]
    if not kept:
        return ""
    return clean_path("/".join(kept))
