""".dockerignore files and the pattern matching Docker uses for them.

``docker build`` decides which files of the context directory it sends
with the rules of ``github.com/moby/patternmatcher``, and so must we: a
user's ``.dockerignore`` has to select exactly the same files with ``ketch
build`` as with ``docker build``, quirks included. This module reproduces:

- reading the file (``ignorefile.ReadAll``): ``#`` comment lines, a UTF-8
  BOM, surrounding whitespace, ``!`` exceptions, path cleaning and the
  leading ``/`` that is dropped;
- compiling a pattern (``patternmatcher.New``/``compile``): ``*`` and ``?``
  stay inside one path component, ``**`` spans any number of them,
  ``[...]`` classes, ``\\`` escapes, and the exact/prefix/suffix/regexp
  shortcuts, which make ``**/a*`` and ``a/**`` behave as Docker's do;
- the three ways Docker asks "is this path excluded": with every parent
  checked (the daemon, ``docker build``'s context check), with the parent's
  results carried down a walk (what is actually sent), and the deprecated
  one-parent check the CLI still uses to keep the Dockerfile;
- the walk itself (``walk_context``): an excluded directory is skipped
  unless an exception pattern starts with its path, so ``!dir/keep`` can
  bring one file back from an excluded ``dir``.

Go's ``path/filepath.Match`` is here too (:func:`filepath_match`): Docker
validates ignore patterns with it and matches ``COPY`` wildcards with it.

Pure standard library and no ketch imports but :mod:`ketch.errors`, so the
CLI can use it without pulling in the daemon.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ketch.errors import InvalidArgument

#: What Go's strings.TrimSpace removes (unicode.IsSpace), which differs
#: from str.strip() on the ASCII separators 0x1c-0x1f.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"

#: Characters patternmatcher escapes before handing a pattern to Go's regexp:
#: special in a regexp, ordinary in a file name pattern.
_REGEX_ESCAPED = frozenset(".+()|{}$")

_BOM = "\ufeff"


class BadPattern(InvalidArgument):
    """A malformed pattern; the message is Go's ``syntax error in pattern``."""


# -- Go's path helpers ---------------------------------------------------------


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean`` on Linux.

    ``posixpath.normpath`` agrees except that it keeps a leading ``//``
    (POSIX allows it a meaning; Go does not).
    """
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _go_trim_space(text: str) -> str:
    return text.strip(_GO_SPACE)


# -- filepath.Match --------------------------------------------------------------


def _class_atom(pattern: str, i: int) -> tuple[str, int]:
    """One possibly escaped character of a ``[...]`` class starting at *i*.

    Go refuses ``-`` and ``]`` where a range must start, a trailing ``\\``,
    and a class that ends with the pattern.
    """
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern("syntax error in pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern("syntax error in pattern")
    if i + 1 >= len(pattern):
        raise BadPattern("syntax error in pattern")
    return pattern[i], i + 1


def _translate_class(pattern: str, i: int) -> tuple[str, int]:
    """A Go ``filepath.Match`` class at ``pattern[i] == '['`` as a regex class.

    Like Go, a class matches any one character, ``/`` included, and needs at
    least one range; ``^`` negates it.
    """
    i += 1
    if i >= len(pattern):
        raise BadPattern("syntax error in pattern")
    negated = pattern[i] == "^"
    if negated:
        i += 1
    ranges: list[str] = []
    while True:
        if i < len(pattern) and pattern[i] == "]" and ranges:
            i += 1
            break
        lo, i = _class_atom(pattern, i)
        hi = lo
        if pattern[i] == "-":
            hi, i = _class_atom(pattern, i + 1)
        if lo > hi:
            # Go accepts an empty range (it matches nothing); Python would not.
            ranges.append("")
            continue
        ranges.append(re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}")
    body = "".join(ranges)
    if not body:
        return ("(?s:.)" if negated else "(?!)"), i
    return f"[{'^' if negated else ''}{body}]", i


def _compile_filepath_pattern(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            piece, i = _translate_class(pattern, i)
            out.append(piece)
        elif ch == "\\":
            if i + 1 >= len(pattern):
                raise BadPattern("syntax error in pattern")
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(ch))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


_FILEPATH_CACHE: dict[str, re.Pattern[str]] = {}


def filepath_match(pattern: str, name: str) -> bool:
    """Go's ``filepath.Match(pattern, name)`` on Linux.

    ``*`` is any run of characters but ``/``, ``?`` one character but
    ``/``, ``[...]`` a class (``^`` negates, ``\\`` escapes, any character
    in it including ``/``), ``\\c`` the character c; the whole name must
    match. A malformed pattern raises :class:`BadPattern` whatever the name
    (as Go does since 1.16).
    """
    compiled = _FILEPATH_CACHE.get(pattern)
    if compiled is None:
        compiled = _compile_filepath_pattern(pattern)
        if len(_FILEPATH_CACHE) < 1024:
            _FILEPATH_CACHE[pattern] = compiled
    return compiled.match(name) is not None


def has_wildcards(path: str) -> bool:
    """True if *path* holds ``*``, ``?`` or ``[`` not escaped by ``\\``.

    The classic builder's test for "this COPY source is a pattern"; a
    backslash hides the character after it.
    """
    i = 0
    while i < len(path):
        if path[i] == "\\":
            i += 2
            continue
        if path[i] in "*?[":
            return True
        i += 1
    return False


# -- reading a .dockerignore ---------------------------------------------------------


def read_ignore_lines(text: str | bytes) -> list[str]:
    """The patterns of a ``.dockerignore``, as ``ignorefile.ReadAll`` gives them.

    A line starting with ``#`` (before any whitespace is removed) is a
    comment; other lines are stripped, empty ones dropped, and each pattern
    (after a leading ``!``) is cleaned and loses one leading ``/``, so
    ``/a/../b/`` and ``b`` are the same pattern. Exceptions keep their
    ``!`` in front.
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", "surrogateescape")
    if text.endswith("\n"):
        text = text[:-1]
    patterns: list[str] = []
    for number, raw in enumerate(text.split("\n") if text else []):
        line = raw[:-1] if raw.endswith("\r") else raw
        if number == 0 and line.startswith(_BOM):
            line = line[len(_BOM):]
        if line.startswith("#"):
            continue
        pattern = _go_trim_space(line)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = _go_trim_space(pattern[1:])
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


# -- one pattern --------------------------------------------------------------------


_EXACT, _PREFIX, _SUFFIX, _REGEXP = "exact", "prefix", "suffix", "regexp"


def _go_regex_for(pattern: str) -> tuple[str, str]:
    """(match kind, Go regexp source) exactly as patternmatcher compiles *pattern*.

    The regexp is still in Go's syntax: patternmatcher passes ``[``, ``]``,
    ``^`` and escaped characters through, so they keep their regexp
    meaning, which :func:`_go_regex_to_python` then reproduces.
    """
    regex = "^"
    kind = _EXACT
    i = 0
    step = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == _EXACT:
                        kind = _PREFIX
                    else:
                        regex += ".*"
                        kind = _REGEXP
                else:
                    regex += "(.*/)?"
                    kind = _REGEXP
                if step == 0:
                    kind = _SUFFIX
            else:
                regex += "[^/]*"
                kind = _REGEXP
        elif ch == "?":
            regex += "[^/]"
            kind = _REGEXP
        elif ch in _REGEX_ESCAPED:
            regex += "\\" + ch
        elif ch == "\\":
            if i < n:
                regex += "\\" + pattern[i]
                i += 1
                kind = _REGEXP
            else:
                regex += "\\"
        elif ch in "[]":
            regex += ch
            kind = _REGEXP
        else:
            regex += ch
        step += 1
    return kind, regex + "$"


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}

#: Go escapes (outside and inside classes) that Python writes the same way.
_SAME_ESCAPES = frozenset("dDsSwWbBAaftnrv")


def _go_escape(regex: str, i: int, in_class: bool) -> tuple[str, int]:
    """The Python form of the Go escape at ``regex[i] == '\\'``; (text, next i)."""
    if i + 1 >= len(regex):
        raise BadPattern("syntax error in pattern")
    ch = regex[i + 1]
    if not ch.isascii() or not ch.isalnum():
        return re.escape(ch), i + 2
    if ch in _SAME_ESCAPES and not (in_class and ch in "bBA"):
        return "\\" + ch, i + 2
    if ch == "z" and not in_class:
        return r"\Z", i + 2
    raise BadPattern("syntax error in pattern")


def _go_class_to_python(regex: str, i: int) -> tuple[str, int]:
    """A Go regexp class at ``regex[i] == '['``; POSIX classes expanded."""
    i += 1
    out = "["
    if i < len(regex) and regex[i] == "^":
        out += "^"
        i += 1
    first = True
    while True:
        if i >= len(regex):
            raise BadPattern("syntax error in pattern")
        ch = regex[i]
        if ch == "]" and not first:
            return out + "]", i + 1
        first = False
        if ch == "[" and regex.startswith("[:", i):
            end = regex.find(":]", i + 2)
            name = regex[i + 2:end] if end > 0 else ""
            negated = name.startswith("^")
            members = _POSIX_CLASSES.get(name.lstrip("^"))
            if end < 0 or members is None or negated:
                raise BadPattern("syntax error in pattern")
            out += members
            i = end + 2
        elif ch == "\\":
            piece, i = _go_escape(regex, i, in_class=True)
            out += piece
        elif ch == "-" and out[-1] not in "[^" and i + 1 < len(regex) and regex[i + 1] != "]":
            out += "-"
            i += 1
        else:
            # Anything else is itself in a Go class; escape what Python
            # would read as syntax ([, &&, ~~, ||, --, a leading ^).
            out += re.escape(ch) if not ch.isalnum() else ch
            i += 1


def _go_regex_to_python(regex: str) -> str:
    """Rewrite the regexps patternmatcher builds from Go's syntax into Python's.

    Only what those regexps can contain is handled: literals, ``.``, ``*``,
    ``?``, groups, anchors, escapes and classes; anything Go would refuse
    raises :class:`BadPattern`. The final ``$`` becomes ``\\Z`` because
    Python's ``$`` also matches before a trailing newline and Go's does not.
    """
    out: list[str] = []
    i = 0
    body, end = regex[:-1], "\\Z"
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            piece, i = _go_escape(body, i, in_class=False)
            out.append(piece)
        elif ch == "[":
            piece, i = _go_class_to_python(body, i)
            out.append(piece)
        elif ch == "(":
            out.append("(?:")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out) + end


@dataclass(frozen=True, slots=True)
class Pattern:
    """One compiled ignore pattern.

    ``text`` is the cleaned pattern without its ``!``; ``exclusion`` is true
    for a ``!`` pattern (one that brings files back). ``depth`` is how many
    path components the pattern has, used by the one-parent check.
    """

    text: str
    exclusion: bool
    kind: str
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @property
    def depth(self) -> int:
        return len(self.text.split("/"))

    def match(self, path: str) -> bool:
        """Whether *path* (slash-separated, relative) matches this pattern alone."""
        if self.kind == _EXACT:
            return path == self.text
        if self.kind == _PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind == _SUFFIX:
            suffix = self.text[2:]
            if path.endswith(suffix):
                return True
            return suffix.startswith("/") and path == suffix[1:]
        assert self.regex is not None
        return self.regex.match(path) is not None

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text


def compile_pattern(raw: str) -> Pattern:
    """One pattern as ``patternmatcher.New`` reads it; BadPattern if malformed."""
    text = go_clean(_go_trim_space(raw))
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise BadPattern('illegal exclusion pattern: "!"')
        text = text[1:]
    # Docker checks the syntax with filepath.Match before compiling.
    _compile_filepath_pattern(text)
    kind, go_regex = _go_regex_for(text)
    regex = None
    if kind == _REGEXP:
        try:
            regex = re.compile(_go_regex_to_python(go_regex))
        except re.error:
            raise BadPattern("syntax error in pattern") from None
    return Pattern(text=text, exclusion=exclusion, kind=kind, regex=regex)


def parse_dockerignore(text: str | bytes) -> list[Pattern]:
    """The compiled patterns of a ``.dockerignore`` file's contents."""
    return [compile_pattern(p) for p in read_ignore_lines(text)]


# -- a list of patterns ----------------------------------------------------------------


#: Per pattern, whether a directory matched it: carried from a directory to
#: its entries during a walk (patternmatcher's MatchInfo).
ParentMatches = tuple[bool, ...]


class IgnoreMatcher:
    """Decides which context paths a list of ignore patterns excludes.

    Patterns apply in order: a path is excluded by the last pattern that
    matches it (or, for ``matches``, one of its parent directories), so an
    exception after an exclusion brings a path back and an exclusion after
    an exception removes it again.
    """

    def __init__(self, patterns: Sequence[str | Pattern] = ()) -> None:
        compiled: list[Pattern] = []
        for p in patterns:
            if isinstance(p, Pattern):
                compiled.append(p)
            elif _go_trim_space(p):
                compiled.append(compile_pattern(p))
        self.patterns: tuple[Pattern, ...] = tuple(compiled)

    @classmethod
    def from_dockerignore(cls, text: str | bytes) -> IgnoreMatcher:
        return cls(read_ignore_lines(text))

    @property
    def has_exclusions(self) -> bool:
        """Whether any ``!`` pattern exists (then excluded dirs may be entered)."""
        return any(p.exclusion for p in self.patterns)

    def matches(self, relpath: str) -> bool:
        """Whether *relpath* is excluded, checking every parent directory.

        ``patternmatcher.MatchesOrParentMatches``: a pattern matching
        ``a`` or ``a/b`` also excludes ``a/b/c``. The context root itself
        (``.`` or empty) is never excluded.
        """
        path = go_clean(relpath)
        if path == ".":
            return False
        parents = _parent_prefixes(path)
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path) or any(pattern.match(p) for p in parents)
            if hit:
                matched = not pattern.exclusion
        return matched

    def matches_one_parent(self, relpath: str) -> bool:
        """The deprecated ``patternmatcher.Matches``, kept for one caller.

        It tries a parent directory only at the pattern's own depth. The
        Docker CLI still uses it to decide whether the Dockerfile and
        ``.dockerignore`` need an exception (:func:`keep_build_files`).
        """
        path = go_clean(relpath)
        if path == ".":
            return False
        parent = posixpath.dirname(path) or "."
        parent_dirs = parent.split("/")
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parent != "." and pattern.depth <= len(parent_dirs):
                hit = pattern.match("/".join(parent_dirs[: pattern.depth]))
            if hit:
                matched = not pattern.exclusion
        return matched

    def matches_in_walk(
        self, relpath: str, parent: ParentMatches | None
    ) -> tuple[bool, ParentMatches]:
        """``MatchesUsingParentResults``: (excluded, results to pass to children).

        *parent* is what this call returned for the directory that holds
        *relpath*, or None at the top of a walk (then parents are checked
        as in :meth:`matches`).
        """
        matched = False
        results: list[bool] = []
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != matched:
                    results.append(False)
                    continue
                hit = pattern.match(relpath)
                if not hit and not parent:
                    hit = any(pattern.match(p) for p in _parent_prefixes(relpath))
            results.append(hit)
            if hit:
                matched = not pattern.exclusion
        return matched, tuple(results)

    def may_include_below(self, directory: str) -> bool:
        """Whether an excluded *directory* must still be walked into.

        Docker's rule is textual: only an exception pattern that starts
        with ``directory/`` (or is the directory itself) counts, so
        ``!dir/keep`` re-includes a file of an excluded ``dir`` but
        ``!**/keep`` does not.
        """
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)


def _parent_prefixes(path: str) -> list[str]:
    """``a``, ``a/b`` for ``a/b/c``: the parent directories, outermost first."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


# -- what the client sends ---------------------------------------------------------------


def keep_build_files(
    patterns: Sequence[str], dockerfile: str, dockerfile_from_stdin: bool = False
) -> list[str]:
    """Exceptions so that ``.dockerignore`` and the Dockerfile are always sent.

    The CLI sends them even when ``.dockerignore`` excludes them (the daemon
    needs both, then drops the excluded ones itself; see
    :func:`ketch.build.context.receive_context`). *dockerfile* is the
    Dockerfile's path relative to the context, with ``/`` separators.
    """
    result = list(patterns)
    if IgnoreMatcher(result).matches_one_parent(".dockerignore"):
        result.append("!.dockerignore")
    if not dockerfile_from_stdin and IgnoreMatcher(result).matches_one_parent(dockerfile):
        result.append("!" + dockerfile)
    return result


def _sorted_entries(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as it:
        return sorted(it, key=lambda e: os.fsencode(e.name))


def walk_context(root: Path, matcher: IgnoreMatcher) -> Iterator[str]:
    """The paths (files and directories) under *root* that the client sends.

    The same walk as Docker's tar writer: depth first in byte order of
    names, symlinks never followed, the root itself not listed, an excluded
    file dropped, an excluded directory skipped whole unless
    :meth:`IgnoreMatcher.may_include_below` says an exception may bring
    something below it back (then it is entered, and listed only if not
    excluded itself). Paths are relative with ``/`` separators; give the
    matcher the patterns from :func:`keep_build_files`. Unreadable
    directories are skipped, as Docker does (check with
    :func:`validate_context` first to report them).
    """
    yield from _walk(str(root), "", matcher, None)


def _walk(host_dir: str, rel_dir: str, matcher: IgnoreMatcher,
          parent: ParentMatches | None) -> Iterator[str]:
    try:
        entries = _sorted_entries(host_dir)
    except OSError:
        return
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        excluded, results = matcher.matches_in_walk(rel, parent)
        if excluded:
            if not is_dir or not matcher.may_include_below(rel):
                continue
        else:
            yield rel
        if is_dir:
            yield from _walk(entry.path, rel, matcher, results)


def validate_context(root: Path, matcher: IgnoreMatcher) -> None:
    """Fail like ``docker build`` when a file that would be sent is unreadable.

    ``ValidateContextDirectory``: every file not excluded (with the
    every-parent check) must be openable; symlinks and FIFOs are not
    opened. Raises InvalidArgument with Docker's messages.
    """
    _validate_dir(str(root), "", matcher)


def _validate_dir(host_dir: str, rel_dir: str, matcher: IgnoreMatcher) -> None:
    try:
        entries = _sorted_entries(host_dir)
    except PermissionError:
        raise InvalidArgument(f"can't stat '{host_dir}'") from None
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if matcher.matches(rel):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except PermissionError:
            raise InvalidArgument(f"can't stat '{entry.path}'") from None
        except FileNotFoundError:
            raise InvalidArgument(
                f"file ('{entry.path}') not found or excluded by .dockerignore") from None
        if stat.S_ISDIR(st.st_mode):
            _validate_dir(entry.path, rel, matcher)
            continue
        if stat.S_ISLNK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except PermissionError:
            raise InvalidArgument(f"no permission to read from '{entry.path}'") from None
        except OSError:
            continue
        os.close(fd)


__all__ = [
    "BadPattern",
    "IgnoreMatcher",
    "ParentMatches",
    "Pattern",
    "compile_pattern",
    "filepath_match",
    "go_clean",
    "has_wildcards",
    "keep_build_files",
    "parse_dockerignore",
    "read_ignore_lines",
    "validate_context",
    "walk_context",
]
