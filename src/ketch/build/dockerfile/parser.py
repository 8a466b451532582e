"""The line parser: Dockerfile text to a flat list of instruction nodes.

This is the first of Docker's two parsing passes (BuildKit's ``parser``
package, which the classic builder uses too). It handles what is about
lines rather than instructions: the BOM, parser directives (``# syntax=``,
``# escape=``, ``# check=``), comments, line continuations with the escape
character (and the comment and empty lines Docker tolerates inside them),
heredocs, the ``--flag`` words in front of the arguments, and the
per-instruction argument shapes (JSON array or shell form, ``key=value``
pairs, whitespace-separated words). It does not know which instructions
exist: an unknown keyword becomes a node with no arguments, and
``instructions`` rejects it later, as Docker does, so that error ordering
and wording stay Docker's.

Errors here are Docker's "line parser" errors (``failed to parse
Dockerfile: ...``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ketch.build.dockerfile.errors import DockerfileError, parse_failure
from ketch.build.dockerfile.gocompat import is_space, lstrip, quote, strip
from ketch.build.dockerfile.lexer import ShellLex

#: Largest Dockerfile we accept. Docker has no overall limit (only the one
#: on line length below); this keeps a hostile upload from pinning memory.
MAX_DOCKERFILE_SIZE = 8 * 1024 * 1024

#: Docker reads lines with Go's bufio.Scanner and its default 64 KiB buffer.
MAX_LINE_LENGTH = 64 * 1024 - 1

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_GO_S = r"[\t\n\f\r ]"  # Go's \s
_DIRECTIVE = re.compile(rf"#{_GO_S}*([a-zA-Z][a-zA-Z0-9]*){_GO_S}*={_GO_S}*(.+?){_GO_S}*\Z")
_HEREDOC = re.compile(rf"([0-9]*)<<(-?){_GO_S}*([^<]*)\Z")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_BOM = "\ufeff"

#: Directives Docker recognises; anything else ends the directive block.
DIRECTIVES = ("syntax", "escape", "check")

_HEREDOC_KEYWORDS = frozenset({"add", "copy", "run"})

_JSON = json.JSONDecoder(parse_constant=lambda name: _raise_not_json(name))


@dataclass(frozen=True)
class Heredoc:
    """One here-document attached to a RUN, COPY or ADD instruction.

    ``content`` is the text between the instruction line and the
    terminator, line endings included, exactly as in the file; ``data``
    applies ``<<-``'s tab stripping. ``expand`` is false when any part of
    the delimiter word was quoted (``<<"EOF"``, ``<<'EOF'``), which tells
    the builder not to expand variables in the content.
    """

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def data(self) -> str:
        return chomp_heredoc(self.content) if self.chomp else self.content


@dataclass(frozen=True)
class Node:
    """One instruction as the line parser sees it.

    ``args`` are the arguments in Docker's flattened form: for ENV and
    LABEL alternating keys and values, for HEALTHCHECK the type first, for
    ONBUILD the trigger's keyword then its arguments. ``json`` tells whether
    the arguments were a JSON array. ``original`` is the whole joined line
    (continuations removed) that Docker prints in ``Step n/m``.
    """

    keyword: str
    args: tuple[str, ...]
    flags: tuple[str, ...]
    json: bool
    original: str
    start_line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()
    child: Node | None = None


@dataclass(frozen=True)
class ParseResult:
    """The nodes of a Dockerfile plus what the directives said."""

    nodes: tuple[Node, ...]
    escape_token: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    #: Docker's own warning lines (empty continuation lines), to print on stderr.
    warnings: tuple[str, ...] = ()


class _NotJSON(Exception):
    pass


class _NotStringArray(Exception):
    pass


def _raise_not_json(name: str) -> object:
    raise _NotJSON(name)


def chomp_heredoc(content: str) -> str:
    """``<<-`` semantics: strip leading tabs from every line."""
    return _LEADING_TABS.sub("", content)


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word such as ``<<EOF``, ``<<-"EOF"``, ``3<<EOF`` starts, if any.

    The content is left empty; the line parser fills it in.
    """
    match = _HEREDOC.match(word)
    if not match:
        return None
    rest = match.group(3)
    if rest == "":
        return None
    lex = ShellLex("\\", skip_unset_env=True)
    words = lex.process_words(rest, {})
    if len(words) != 1:
        return None
    lex.raw_quotes = True
    raw_words = lex.process_words(rest, {})
    if len(raw_words) != len(words):
        raise DockerfileError(
            f"internal lexing of heredoc produced inconsistent results: {rest}"
        )
    name, raw = words[0], raw_words[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw.count("'") + raw.count('"')
    fd_text = match.group(1)
    return Heredoc(
        name=name,
        content="",
        expand=quotes == raw_quotes,
        chomp=match.group(2) == "-",
        fd=int(fd_text) if fd_text else 0,
    )


def heredocs_in_line(line: str) -> list[Heredoc]:
    """Every heredoc an instruction line opens, in order."""
    lex = ShellLex("\\", raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lex.process_words(line, {})
    except DockerfileError:
        return []
    docs = []
    for word in words:
        doc = parse_heredoc(word)
        if doc is not None:
            docs.append(doc)
    return docs


# -- argument shapes -----------------------------------------------------------


def _split_whitespace(rest: str) -> list[str]:
    if rest == "":
        return []
    return _WHITESPACE.split(rest)


def _parse_words(rest: str, escape: str) -> list[str]:
    """Words separated by whitespace, quotes and escapes kept for later expansion."""
    words: list[str] = []
    word: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    quote_char = ""
    blank_ok = False
    n = len(rest)
    pos = 0
    while pos <= n:
        ch = rest[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            phase = in_word
        if pos == n:
            if blank_ok or word:
                words.append("".join(word))
            break
        if phase == in_word:
            if is_space(ch):
                phase = in_spaces
                if blank_ok or word:
                    words.append("".join(word))
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote_char = ch
                blank_ok = True
                phase = in_quote
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue  # an escape at the end of the line is dropped
                # Outside quotes an escape and the character it escapes are
                # both kept, even a quote: expansion deals with them later.
                word.append(ch)
                pos += 1
                ch = rest[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote_char:
            phase = in_word
        if ch == escape and quote_char != "'":
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            word.append(ch)
            ch = rest[pos]
        word.append(ch)
        pos += 1
    return words


def _parse_name_val(rest: str, key: str, escape: str) -> list[str]:
    """ENV and LABEL: ``k=v k2=v2`` or the old ``k v with spaces`` form."""
    words = _parse_words(rest, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{key} must have two arguments")
        return [parts[0], parts[1]]
    args: list[str] = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(
                f"Syntax error - can't find = in {quote(word)}. Must be of the form: name=value"
            )
        name, _, value = word.partition("=")
        args += [name, value]
    return args


def _parse_json(rest: str) -> list[str]:
    rest = lstrip(rest)
    if not rest.startswith("["):
        raise _NotJSON(rest)
    try:
        # Like Go's json.Decoder (Docker 20.10): the first value counts and
        # anything after it is ignored (``CMD ["a"] junk`` is exec form).
        value, _ = _JSON.raw_decode(rest)
    except (ValueError, RecursionError):
        raise _NotJSON(rest) from None
    if not isinstance(value, list):
        raise _NotJSON(rest)
    for item in value:
        if not isinstance(item, str):
            raise _NotStringArray()
    return value


_NOT_STRING_ARRAY = "when using JSON array syntax, arrays must be comprised of strings only"


def _parse_maybe_json(rest: str) -> tuple[list[str], bool]:
    if rest == "":
        return [], False
    try:
        return _parse_json(rest), True
    except _NotStringArray:
        raise DockerfileError(_NOT_STRING_ARRAY) from None
    except _NotJSON:
        return [rest], False


def _parse_maybe_json_to_list(rest: str) -> tuple[list[str], bool]:
    try:
        return _parse_json(rest), True
    except _NotStringArray:
        raise DockerfileError(_NOT_STRING_ARRAY) from None
    except _NotJSON:
        return _split_whitespace(rest), False


def _parse_health_config(rest: str) -> tuple[list[str], bool]:
    sep = 0
    while sep < len(rest) and not is_space(rest[sep]):
        sep += 1
    nxt = sep
    while nxt < len(rest) and is_space(rest[nxt]):
        nxt += 1
    if sep == 0:
        return [], False
    cmd, is_json = _parse_maybe_json(rest[nxt:])
    return [rest[:sep], *cmd], is_json


def _extract_flags(text: str, escape: str) -> tuple[str, list[str]]:
    """Split the leading ``--flag=value`` words off an instruction's arguments.

    Docker scans this part byte by byte and turns each byte into a
    character, so a non-ASCII flag value comes out as its UTF-8 bytes read
    as Latin-1 (``--chown=josé`` gives ``josÃ©``); this does the same.
    """
    line = text.encode("utf-8", "surrogateescape").decode("latin-1")

    def remainder(pos: int) -> str:
        return line[pos:].encode("latin-1").decode("utf-8", "surrogateescape")

    words: list[str] = []
    word: list[str] = []
    in_spaces, in_word, in_quote = 0, 1, 2
    phase = in_spaces
    quote_char = ""
    blank_ok = False
    n = len(line)
    pos = 0
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if phase == in_spaces:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return remainder(pos), words
            phase = in_word
        if pos == n:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                words.append(text)
            break
        if phase == in_word:
            if is_space(ch):
                text = "".join(word)
                phase = in_spaces
                if text == "--":
                    return remainder(pos), words
                if blank_ok or text:
                    words.append(text)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in ("'", '"'):
                quote_char = ch
                blank_ok = True
                phase = in_quote
                pos += 1
                continue
            if ch == escape:
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        # in_quote
        if ch == quote_char:
            phase = in_word
            pos += 1
            continue
        if ch == escape:
            if pos + 1 == n:
                phase = in_word
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def _split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    """Keyword (lower case), flags and the rest of an instruction line."""
    parts = _WHITESPACE.split(strip(line), maxsplit=1)
    rest = ""
    flags: list[str] = []
    if len(parts) == 2:
        rest, flags = _extract_flags(parts[1], escape)
    return parts[0].lower(), flags, strip(rest)


def node_from_line(line: str, escape: str, start: int, end: int) -> Node:
    """Parse one joined instruction line (``newNodeFromLine`` in Docker).

    ONBUILD's trigger is parsed as a line of its own, and so on for
    ``ONBUILD ONBUILD ...`` (which the instruction parser then refuses);
    the chain is unrolled here rather than recursed into.
    """
    chain: list[tuple[list[str], str]] = []
    text = line
    keyword, flags, rest = _split_command(text, escape)
    while keyword == "onbuild" and rest:
        chain.append((flags, text))
        text = rest
        keyword, flags, rest = _split_command(text, escape)

    args: list[str] = []
    is_json = False
    if keyword in ("add", "copy", "volume"):
        args, is_json = _parse_maybe_json_to_list(rest)
    elif keyword in ("cmd", "entrypoint", "run", "shell"):
        args, is_json = _parse_maybe_json(rest)
    elif keyword == "arg":
        args = _parse_words(rest, escape)
    elif keyword in ("env", "label"):
        args = _parse_name_val(rest, keyword.upper(), escape)
    elif keyword in ("expose", "from"):
        args = _split_whitespace(rest)
    elif keyword == "healthcheck":
        args, is_json = _parse_health_config(rest)
    elif keyword in ("maintainer", "stopsignal", "user", "workdir"):
        args = [rest] if rest else []
    # Unknown keywords keep no arguments; the instruction parser rejects them.
    node = Node(keyword, tuple(args), tuple(flags), is_json, text, start, end)
    for onbuild_flags, onbuild_text in reversed(chain):
        node = Node(
            "onbuild", (node.keyword, *node.args), tuple(onbuild_flags), False,
            onbuild_text, start, end, (), node,
        )
    return node


def _can_contain_heredoc(node: Node) -> bool:
    target = node.child if node.keyword == "onbuild" and node.child is not None else node
    return target.keyword in _HEREDOC_KEYWORDS and not target.json


# -- the file ----------------------------------------------------------------------


class _Directives:
    """Parser directives, which are only recognised before anything else."""

    def __init__(self) -> None:
        self.done = False
        self.seen: dict[str, str] = {}
        self.escape = "\\"
        self.continuation = _continuation_regex("\\")

    def check(self, line: str) -> None:
        if self.done:
            return
        match = _DIRECTIVE.match(line)
        if not match:
            self.done = True
            return
        key = match.group(1).lower()
        if key not in DIRECTIVES:
            self.done = True
            return
        if key in self.seen:
            raise DockerfileError(f"only one {key} parser directive can be used")
        value = match.group(2)
        self.seen[key] = value
        if key == "escape":
            if value not in ("`", "\\"):
                raise DockerfileError(
                    f"invalid escape token '{value}' does not match ` or \\"
                )
            self.escape = value
            self.continuation = _continuation_regex(value)


def _continuation_regex(escape: str) -> re.Pattern[str]:
    e = re.escape(escape)
    # The escape as last non-blank character continues the line, unless it is
    # itself escaped; an escape alone on a line continues it too.
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


def _is_comment(line: str) -> bool:
    return lstrip(line).startswith("#")


def _utf8_len(line: str) -> int:
    if len(line) * 4 <= MAX_LINE_LENGTH:
        return len(line)
    return len(line.encode("utf-8", "surrogateescape"))


def _split_lines(text: str) -> tuple[list[str], bool]:
    """Physical lines with their endings, cut at the first over-long line.

    The flag tells whether a line was too long: Docker's scanner stops
    there, and reports it only after dealing with what it read before.
    """
    raw = text.split("\n")
    lines = [part + "\n" for part in raw[:-1]]
    if raw[-1]:
        lines.append(raw[-1])
    for i, line in enumerate(lines):
        if _utf8_len(line.rstrip("\n")) > MAX_LINE_LENGTH:
            return lines[:i], True
    return lines, False


def _content(raw: str) -> str:
    """A physical line without its ending (Go's ScanLines drops one ``\\r``)."""
    if raw.endswith("\n"):
        raw = raw[:-1]
    if raw.endswith("\r"):
        raw = raw[:-1]
    return raw


def decode_dockerfile(data: bytes | str, name: str = "Dockerfile") -> str:
    """The Dockerfile as text; undecodable bytes survive as surrogates."""
    if isinstance(data, str):
        if len(data) > MAX_DOCKERFILE_SIZE:
            raise _too_large(name)
        return data
    if len(data) > MAX_DOCKERFILE_SIZE:
        raise _too_large(name)
    return data.decode("utf-8", "surrogateescape")


def _too_large(name: str) -> DockerfileError:
    return DockerfileError(
        f"the Dockerfile ({name}) is larger than the {MAX_DOCKERFILE_SIZE} bytes allowed"
    )


def parse_lines(
    data: bytes | str, *, name: str = "Dockerfile", heredocs: bool = True
) -> ParseResult:
    """Run Docker's line parser over a Dockerfile.

    ``heredocs=False`` gives Docker 20.10's parser, which knows no heredocs
    (its ``RUN <<EOF`` is a shell-form command and the lines after it are
    instructions); Docker 23+ and BuildKit parse them.
    """
    text = decode_dockerfile(data, name)
    if text == "":
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    lines, too_long = _split_lines(text)
    if lines and lines[0].startswith(_BOM):
        lines[0] = lines[0][len(_BOM):]

    d = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []
    current = 0
    i = 0
    n = len(lines)

    def fail(reason: str, line: int) -> DockerfileError:
        return parse_failure(name, reason, line)

    while i < n:
        token = lstrip(_content(lines[i]))
        i += 1
        try:
            d.check(token)
        except DockerfileError as e:
            raise fail(e.message, current + 1) from None
        if _is_comment(token):
            token = ""
        current += 1
        start = current
        line, continued = _trim_continuation(token, d)
        if not continued and line == "":
            continue
        pieces = [line]
        empty_continuation = False
        while continued and i < n:
            raw = _content(lines[i])
            i += 1
            try:
                d.check(raw)
            except DockerfileError as e:
                raise fail(e.message, current + 1) from None
            current += 1
            if _is_comment(raw):
                continue
            if lstrip(raw) == "":
                empty_continuation = True
                continue
            piece, continued = _trim_continuation(raw, d)
            pieces.append(piece)
        joined = "".join(pieces)
        if empty_continuation:
            warnings.append("[WARNING]: Empty continuation line found in:\n    " + joined)
        try:
            node = node_from_line(joined, d.escape, start, current)
        except DockerfileError as e:
            raise fail(e.message, start) from None

        if heredocs and _can_contain_heredoc(node) and "<<" in joined:
            try:
                docs = heredocs_in_line(joined)
            except DockerfileError as e:
                raise fail(e.message, start) from None
            filled: list[Heredoc] = []
            for doc in docs:
                body: list[str] = []
                terminated = False
                while i < n:
                    raw = lines[i]
                    i += 1
                    current += 1
                    candidate = raw.rstrip("\r\n")
                    if doc.chomp:
                        candidate = candidate.lstrip("\t")
                    if candidate == doc.name:
                        terminated = True
                        break
                    body.append(raw)
                if not terminated:
                    raise fail("unterminated heredoc", start)
                filled.append(
                    Heredoc(doc.name, "".join(body), doc.expand, doc.chomp, doc.fd)
                )
            node = Node(
                node.keyword, node.args, node.flags, node.json, node.original,
                start, current, tuple(filled), node.child,
            )
        nodes.append(node)

    if warnings:
        warnings.append(
            "[WARNING]: Empty continuation lines will become errors in a future release."
        )
    if not nodes:
        raise fail("file with no instructions", current)
    if too_long:
        raise fail(
            f"dockerfile line greater than max allowed size of {MAX_LINE_LENGTH}", current + 1
        )
    return ParseResult(tuple(nodes), d.escape, dict(d.seen), tuple(warnings))


def _trim_continuation(line: str, d: _Directives) -> tuple[str, bool]:
    """The line without a trailing continuation escape, and whether it had one."""
    if d.continuation.search(line):
        return d.continuation.sub(r"\1", line, count=1), True
    return line, False
