"""Re-layout of raw JSON text, as Go's ``json.Indent`` and ``json.Compact`` do.

``inspect`` prints the daemon's JSON bytes re-indented rather than decoded and
re-encoded, so escapes (``\\u003c``), number spellings and key order stay
exactly as the daemon sent them, as with the Docker CLI.
"""

from __future__ import annotations


def _tokens(text: str) -> list[str]:
    """Strings and literals kept whole, structural characters alone, whitespace dropped."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in "{}[],:":
            out.append(ch)
            i += 1
        elif ch == '"':
            j = i + 1
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == '"':
                    break
                j += 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in " \t\r\n{}[],:\"":
                j += 1
            out.append(text[i:j])
            i = j
    return out


def indent(text: str, unit: str = "    ") -> str:
    """``json.Indent(dst, src, "", unit)``; empty objects and arrays stay ``{}``/``[]``."""
    toks = _tokens(text)
    out: list[str] = []
    depth = 0
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok in ("{", "["):
            closer = "}" if tok == "{" else "]"
            if i + 1 < len(toks) and toks[i + 1] == closer:
                out.append(tok + closer)
                i += 2
                continue
            depth += 1
            out.append(tok + "\n" + unit * depth)
        elif tok in ("}", "]"):
            depth -= 1
            out.append("\n" + unit * depth + tok)
        elif tok == ",":
            out.append(",\n" + unit * depth)
        elif tok == ":":
            out.append(": ")
        else:
            out.append(tok)
        i += 1
    return "".join(out)


def compact(text: str) -> str:
    """``json.Compact``: the same JSON without insignificant whitespace."""
    return "".join(_tokens(text))
