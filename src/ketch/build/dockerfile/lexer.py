"""Docker's variable expansion and word splitting for Dockerfile arguments.

This follows the semantics of BuildKit's ``shell.Lex`` (the code both the
classic builder and BuildKit use): ``$VAR``, ``${VAR}``, the modifiers
``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``,
``${VAR:?msg}``, ``${VAR?msg}``, the pattern forms ``${VAR#pat}``,
``${VAR##pat}``, ``${VAR%pat}``, ``${VAR%%pat}``, ``${VAR/pat/repl}`` and
``${VAR//pat/repl}``; single quotes suppress expansion, double quotes allow
it, the escape token (``\\`` or, with ``# escape=`` in the Dockerfile,
`````) escapes the next character.

Docker 20.10 knows only ``:-``, ``:+``, ``:?`` and ``?``; the other forms
are what Docker 23+ accepts. Nothing that 20.10 accepts changes meaning.

Word splitting (``process_words``) happens after expansion, like Docker's:
spaces produced by a ``$VAR`` split words, spaces inside quotes do not.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping

from ketch.build.dockerfile.errors import DockerfileError
from ketch.build.dockerfile.gocompat import is_space, quote

_SPECIAL_PARAMS = frozenset("@*#?-$!0")


class _LexError(Exception):
    """An expansion failure before Docker's ``failed to process`` wrapping."""


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


class _Words:
    """Accumulates the words of ``process_words``."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.word: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.word:
                self.words.append("".join(self.word))
                self.word = []
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word.append(ch)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word.append(text)
        self.in_word = True

    def finish(self) -> list[str]:
        if self.word:
            joined = "".join(self.word)
            if joined:
                self.words.append(joined)
            self.word = []
            self.in_word = False
        return self.words


class ShellLex:
    """A configured expander; one instance may be reused, not shared by threads.

    ``escape_token`` is the Dockerfile's escape character. The flags mirror
    BuildKit's: ``raw_quotes`` keeps quote characters in the result,
    ``raw_escapes`` keeps escape characters, ``skip_process_quotes`` treats
    quotes as ordinary characters, ``skip_unset_env`` leaves references to
    unset variables as they were written.
    """

    def __init__(
        self,
        escape_token: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_process_quotes: bool = False,
        skip_unset_env: bool = False,
    ) -> None:
        if len(escape_token) != 1:
            raise ValueError(f"escape token must be one character, not {escape_token!r}")
        self.escape_token = escape_token
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env
        self._src = ""
        self._pos = 0
        self._env: Mapping[str, str] = {}
        self._raw_escapes = raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    # -- public ------------------------------------------------------------

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """``word`` with every variable reference expanded and quotes removed."""
        return self._process(word, env)[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """``word`` expanded, then split into words on unquoted whitespace."""
        return self._process(word, env)[1]

    # -- scanner -----------------------------------------------------------

    def _peek(self) -> str:
        return self._src[self._pos] if self._pos < len(self._src) else ""

    def _next(self) -> str:
        if self._pos >= len(self._src):
            return ""
        ch = self._src[self._pos]
        self._pos += 1
        return ch

    def _process(self, word: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
        self._src, self._pos, self._env = word, 0, env
        self._raw_escapes = self.raw_escapes
        self.matched, self.unmatched = set(), set()
        try:
            return self._process_stop_on("", self.raw_escapes)
        except _LexError as e:
            raise DockerfileError(f"failed to process {quote(word)}: {e}") from None
        except RecursionError:
            # Docker has no nesting limit; we have Python's stack.
            raise DockerfileError(
                f"failed to process {quote(word)}: substitutions nested too deeply"
            ) from None

    def _process_stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Scan until ``stop`` (consumed) or the end when ``stop`` is empty."""
        result: list[str] = []
        words = _Words()
        handlers: dict[str, Callable[[], str]] = {
            "$": self._process_dollar,
            "<": self._process_possible_heredoc,
        }
        if not self.skip_process_quotes:
            handlers["'"] = self._process_single_quote
            handlers['"'] = self._process_double_quote
        saved = self._raw_escapes
        self._raw_escapes = raw_escapes
        try:
            while self._pos < len(self._src):
                ch = self._peek()
                if stop and ch == stop:
                    self._next()
                    return "".join(result), words.finish()
                handler = handlers.get(ch)
                if handler is not None:
                    text = handler()
                    result.append(text)
                    if ch == "$":
                        words.add_string(text)
                    else:
                        words.add_raw_string(text)
                    continue
                ch = self._next()
                if ch == self.escape_token:
                    if self._raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self._next()
                    if ch == "":
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
            if stop:
                raise _LexError(f"unexpected end of statement while looking for matching {stop}")
            return "".join(result), words.finish()
        finally:
            self._raw_escapes = saved

    def _process_single_quote(self) -> str:
        result: list[str] = []
        ch = self._next()
        if self.raw_quotes:
            result.append(ch)
        while True:
            ch = self._next()
            if ch == "":
                raise _LexError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            result.append(ch)

    def _process_double_quote(self) -> str:
        result: list[str] = []
        ch = self._next()
        if self.raw_quotes:
            result.append(ch)
        while True:
            peek = self._peek()
            if peek == "":
                raise _LexError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if peek == '"':
                ch = self._next()
                if self.raw_quotes:
                    result.append(ch)
                return "".join(result)
            if peek == "$":
                result.append(self._process_dollar())
                continue
            ch = self._next()
            if ch == self.escape_token:
                if self._raw_escapes:
                    result.append(ch)
                peek = self._peek()
                if peek == "":
                    continue  # a trailing escape is dropped
                if peek in ('"', "$", self.escape_token):
                    ch = self._next()
            result.append(ch)

    def _process_possible_heredoc(self) -> str:
        """Keep ``<< EOF`` together as one word (heredoc detection needs it)."""
        self._next()
        if self._peek() != "<":
            return "<"
        self._next()
        spaces: list[str] = []
        while self._peek() in ("\t", "\r", " "):
            spaces.append(self._next())
        return "<<" + "".join(spaces)

    def _process_name(self) -> str:
        name: list[str] = []
        while self._pos < len(self._src):
            ch = self._peek()
            if not name and _is_digit(ch):
                while self._peek() != "" and _is_digit(self._peek()):
                    name.append(self._next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self._next()
            if not (ch.isalpha() or _is_digit(ch) or ch == "_"):
                break
            name.append(self._next())
        return "".join(name)

    def _get_env(self, name: str) -> tuple[str, bool]:
        if name in self._env:
            self.matched.add(name)
            return self._env[name], True
        self.unmatched.add(name)
        return "", False

    def _stop_on_brace(self, raw_escapes: bool) -> str:
        try:
            return self._process_stop_on("}", raw_escapes)[0]
        except _LexError:
            if self._peek() == "":
                raise _LexError("syntax error: missing '}'") from None
            raise

    def _process_dollar(self) -> str:
        self._next()  # the $
        if self._peek() != "{":
            name = self._process_name()
            if name == "":
                return "$"
            value, found = self._get_env(name)
            if not found and self.skip_unset_env:
                return "$" + name
            return value

        self._next()  # the {
        peek = self._peek()
        if peek == "":
            raise _LexError("syntax error: missing '}'")
        if peek in ("{", "}", ":"):
            raise _LexError("syntax error: bad substitution")
        name = self._process_name()
        ch = self._next()
        if ch == "}":
            value, found = self._get_env(name)
            if not found and self.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._process_replace(name)

        null_is_unset = False
        if ch == ":":
            # Docker 20.10 reads the word before judging the modifier.
            ch = self._next()
            modifier = ":" + ch
            word = self._stop_on_brace(False)
            if ch not in ("+", "-", "?") or ch == "":
                raise _LexError(f"unsupported modifier ({ch or chr(0xFFFD)}) in substitution")
            null_is_unset = True
        elif ch in ("+", "-", "?", "#", "%") and ch != "":
            modifier = ch
            word = self._stop_on_brace(ch in ("#", "%"))
        else:
            raise _LexError("missing ':' in substitution")

        value, found = self._get_env(name)
        if self.skip_unset_env and not found:
            return "${" + name + modifier + word + "}"
        if ch == "-":
            if not found or (null_is_unset and value == ""):
                return word
            return value
        if ch == "+":
            if not found or (null_is_unset and value == ""):
                return ""
            return word
        if ch == "?":
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("%", "#"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise AssertionError(f"unreachable modifier {modifier!r}")

    def _process_replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._next()
        try:
            pattern = self._process_stop_on("/", True)[0]
        except _LexError:
            if self._peek() == "":
                raise _LexError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._stop_on_brace(True)
        value, found = self._get_env(name)
        if self.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_to_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return regex.sub(lambda m: _go_expand(replacement, m), value)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end() :]


# -- shell patterns (${x#pat}, ${x%pat}, ${x/pat/repl}) -----------------------

_REGEX_SPECIALS = frozenset("[]{}.+()|^$")


def _pattern_to_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard pattern (``*``, ``?``, ``\\`` escapes) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            nxt = pattern[i] if i < len(pattern) else ""
            if nxt in ("}", "/"):
                continue  # the escape protected ${} syntax, not the pattern
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise _LexError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'"
                )
            out.append("\\" + nxt)
        elif ch in _REGEX_SPECIALS:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_to_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern while keeping each ``\\x`` escape in order."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex cannot find the shortest rightmost match: reverse both sides
    # and look for the leftmost one instead, as BuildKit does.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


_TEMPLATE_RE = re.compile(r"\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _go_expand(template: str, match: re.Match[str]) -> str:
    """Go's ``Regexp.Expand`` for ``ReplaceAllString`` templates (``$0``, ``$$``)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1) == "$":
            return "$"
        name = m.group(2) or m.group(3) or ""
        if name.isdigit() and int(name) == 0:
            return match.group(0)
        return ""  # the pattern has no groups; Go yields "" for unknown names

    return _TEMPLATE_RE.sub(one, template)


# -- convenience -------------------------------------------------------------


def process_word(word: str, env: Mapping[str, str], escape_token: str = "\\") -> str:
    """Expand ``word`` the way Docker expands a single-word argument."""
    return ShellLex(escape_token).process_word(word, env)


def process_words(word: str, env: Mapping[str, str], escape_token: str = "\\") -> list[str]:
    """Expand ``word`` and split it into words (Docker's EXPOSE handling)."""
    return ShellLex(escape_token).process_words(word, env)


def env_from_list(entries: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["K=V", ...]`` as a mapping; later entries win, ``K`` alone means empty."""
    env: dict[str, str] = {}
    for entry in entries:
        key, _, value = entry.partition("=")
        env[key] = value
    return env
