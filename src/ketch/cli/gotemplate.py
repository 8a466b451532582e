"""A small implementation of Go's ``text/template`` for ``--format``.

Docker users write ``--format`` strings in Go template syntax, and scripts
depend on the exact output. This engine covers the language those strings use:
text, actions with pipelines, fields and chains (``.A.B``, ``$x.A``,
``(pipe).A``), variables (``$``, ``$x :=``, ``$x =``, ``range $i, $v :=``),
``if``/``else if``/``else``/``end``, ``range``, ``with``, ``break``/``continue``,
``{{-``/``-}}`` trimming, comments, literals, and the functions of Go's
builtins plus Docker's (json, join, split, lower, upper, title, pad, truncate).
Error messages follow Go's wording and positions (``template: :1: unclosed
action``, ``template: :1:2: executing "" at <.Foo>: ...``), including its
argument type checks.
"""

from __future__ import annotations

from collections.abc import Callable

from ketch.cli.goprint import (
    NO_VALUE,
    GoStringList,
    GoUint8,
    JSONNumber,
    NilMap,
    TemplateObject,
    go_json,
    go_sprint,
    go_sprintf,
    go_sprintln,
    go_str,
    go_type_name,
)

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any


class TemplateError(Exception):
    """A template that cannot be parsed or executed; the message is Go's."""


class FuncError(Exception):
    """Raised by template functions; reported as ``error calling NAME: msg``."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_MISSING: Any = object()  # "no final value" marker for pipelines

# --- lexer --------------------------------------------------------------------

_KEYWORDS = {"if", "else", "end", "range", "with", "define", "template", "block", "break",
             "continue"}


class _Tok:
    """A lexer token: kind (text, ldelim, rdelim, space, field, ident, var, dot, string,
    number, charconst, char, bool, nil, pipe, lparen, rparen, declare, assign, comma,
    keyword, eof)."""

    __slots__ = ("kind", "line", "pos", "val")

    def __init__(self, kind: str, val: str, pos: int, line: int) -> None:
        self.kind = kind
        self.val = val
        self.pos = pos
        self.line = line


class _Lexer:
    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.toks: list[_Tok] = []
        self._trailing_trim = False

    def error(self, msg: str, pos: int) -> TemplateError:
        line = 1 + self.text.count("\n", 0, pos)
        return TemplateError(f"template: {self.name}:{line}: {msg}")

    def emit(self, kind: str, val: str, pos: int) -> None:
        self.toks.append(_Tok(kind, val, pos, 1 + self.text.count("\n", 0, pos)))

    def run(self) -> list[_Tok]:
        text = self.text
        i = 0
        trim_next = False
        while True:
            j = text.find("{{", i)
            chunk = text[i:] if j < 0 else text[i:j]
            left_trim = (j >= 0 and text.startswith("{{-", j) and j + 3 < len(text)
                         and text[j + 3] in " \t\r\n")
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if left_trim:
                chunk = chunk.rstrip(" \t\r\n")
            if chunk:
                self.emit("text", chunk, i)
            if j < 0:
                break
            i = self._action(j, left_trim)
            trim_next = self._trailing_trim
        self.emit("eof", "", len(text))
        return self.toks

    def _right_delim_at(self, i: int) -> tuple[bool, int]:
        """(is a right delimiter here, its length including a trim marker)."""
        text = self.text
        if text[i:i + 1] in (" ", "\t", "\n", "\r") and text.startswith("-}}", i + 1):
            return True, 4
        if text.startswith("}}", i):
            return True, 2
        return False, 0

    def _action(self, start: int, left_trim: bool) -> int:
        text = self.text
        i = start + (3 if left_trim else 2)
        # Comments: {{/* ... */}} and {{- /* ... */ -}}
        if text.startswith("/*", i + (1 if left_trim else 0)):
            i += 1 if left_trim else 0
            end = text.find("*/", i + 2)
            if end < 0:
                raise self.error("unclosed comment", start)
            k = end + 2
            ok, ln = self._right_delim_at(k)
            if not ok:
                raise self.error("comment ends before closing delimiter", start)
            self._trailing_trim = ln == 4
            return k + ln
        self.emit("ldelim", "{{", start)
        depth = 0
        n = len(text)
        while True:
            if i >= n:
                raise self.error("unclosed action", start)
            ok, ln = self._right_delim_at(i)
            if ok:
                if depth:
                    raise self.error("unclosed left paren", i)
                self.emit("rdelim", "}}", i)
                self._trailing_trim = ln == 4
                return i + ln
            ch = text[i]
            if ch in " \t\r\n":
                k = i
                while k < n and text[k] in " \t\r\n":
                    if self._right_delim_at(k)[1] == 4:
                        break
                    k += 1
                if k == i:
                    k = i + 1
                self.emit("space", text[i:k], i)
                i = k
            elif ch == "=":
                self.emit("assign", "=", i)
                i += 1
            elif ch == ":":
                if not text.startswith(":=", i):
                    raise self.error("expected :=", i)
                self.emit("declare", ":=", i)
                i += 2
            elif ch == "|":
                self.emit("pipe", "|", i)
                i += 1
            elif ch == ",":
                self.emit("comma", ",", i)
                i += 1
            elif ch == "(":
                depth += 1
                self.emit("lparen", "(", i)
                i += 1
            elif ch == ")":
                depth -= 1
                if depth < 0:
                    raise self.error("unexpected right paren", i)
                self.emit("rparen", ")", i)
                i += 1
            elif ch == '"':
                k = i + 1
                while True:
                    if k >= n or text[k] == "\n":
                        raise self.error("unterminated quoted string", i)
                    if text[k] == "\\":
                        k += 2
                        continue
                    if text[k] == '"':
                        break
                    k += 1
                self.emit("string", text[i:k + 1], i)
                i = k + 1
            elif ch == "`":
                k = text.find("`", i + 1)
                if k < 0:
                    raise self.error("unterminated raw quoted string", i)
                self.emit("string", text[i:k + 1], i)
                i = k + 1
            elif ch == "'":
                k = i + 1
                while k < n and text[k] != "'":
                    k += 2 if text[k] == "\\" else 1
                if k >= n:
                    raise self.error("unterminated character constant", i)
                self.emit("charconst", text[i:k + 1], i)
                i = k + 1
            elif ch == "$":
                k = i + 1
                while k < n and (text[k].isalnum() or text[k] == "_"):
                    k += 1
                self._terminator(k)
                self.emit("var", text[i:k], i)
                i = k
            elif ch == "." and (i + 1 >= n or not text[i + 1].isdigit()):
                k = i + 1
                while k < n and (text[k].isalnum() or text[k] == "_"):
                    k += 1
                if k == i + 1:
                    self.emit("dot", ".", i)
                else:
                    self._terminator(k)
                    self.emit("field", text[i + 1:k], i)
                i = k
            elif ch.isdigit() or (ch in "+-." and i + 1 < n and text[i + 1].isdigit()):
                k = i + 1
                while k < n and (text[k].isalnum() or text[k] in "._+-"):
                    if text[k] in "+-" and text[k - 1] not in "eEpP":
                        break
                    k += 1
                self.emit("number", text[i:k], i)
                i = k
            elif ch.isalpha() or ch == "_":
                k = i + 1
                while k < n and (text[k].isalnum() or text[k] == "_"):
                    k += 1
                word = text[i:k]
                self._terminator(k)
                if word in _KEYWORDS:
                    self.emit("keyword", word, i)
                elif word in ("true", "false"):
                    self.emit("bool", word, i)
                elif word == "nil":
                    self.emit("nil", word, i)
                else:
                    self.emit("ident", word, i)
                i = k
            elif ch.isascii() and ch.isprintable():
                self.emit("char", ch, i)  # the parser reports it where it is not allowed
                i += 1
            else:
                raise self.error(f"unrecognized character in action: {_char_desc(ch)}", i)

    def _terminator(self, k: int) -> None:
        """Go's ``atTerminator``: what may follow a field, variable or identifier."""
        text = self.text
        if k >= len(text) or text[k] in " \t\r\n.,|:()" or text.startswith("}}", k):
            return
        raise self.error(f"bad character {_char_desc(text[k])}", k)


def _char_desc(ch: str) -> str:
    return f"U+{ord(ch):04X} '{ch}'"


# --- parse tree ---------------------------------------------------------------


class _Node:
    """A parse-tree node: its byte offset and how error messages show it."""

    __slots__ = ("pos", "src")

    def __init__(self, pos: int, src: str) -> None:
        self.pos = pos
        self.src = src

    def __str__(self) -> str:
        return self.src


class _Text(_Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, src: str, text: str) -> None:
        super().__init__(pos, src)
        self.text = text


class _Field(_Node):
    __slots__ = ("idents",)

    def __init__(self, pos: int, src: str, idents: list[str]) -> None:
        super().__init__(pos, src)
        self.idents = idents


class _Variable(_Node):
    __slots__ = ("idents",)  # idents[0] is "$name"

    def __init__(self, pos: int, src: str, idents: list[str]) -> None:
        super().__init__(pos, src)
        self.idents = idents


class _Dot(_Node):
    __slots__ = ()


class _Nil(_Node):
    __slots__ = ()


class _Literal(_Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, src: str, value: Any) -> None:
        super().__init__(pos, src)
        self.value = value


class _Identifier(_Node):
    __slots__ = ("name",)

    def __init__(self, pos: int, src: str, name: str) -> None:
        super().__init__(pos, src)
        self.name = name


class _Command(_Node):
    __slots__ = ("args",)

    def __init__(self, pos: int, src: str, args: list[_Node]) -> None:
        super().__init__(pos, src)
        self.args = args


class _Pipe(_Node):
    __slots__ = ("cmds", "decl", "is_assign")

    def __init__(self, pos: int, src: str, decl: list[str], is_assign: bool,
                 cmds: list[_Command]) -> None:
        super().__init__(pos, src)
        self.decl = decl
        self.is_assign = is_assign
        self.cmds = cmds


class _Chain(_Node):
    __slots__ = ("fields", "node")

    def __init__(self, pos: int, src: str, node: _Node, fields: list[str]) -> None:
        super().__init__(pos, src)
        self.node = node
        self.fields = fields


class _Action(_Node):
    __slots__ = ("pipe",)

    def __init__(self, pos: int, src: str, pipe: _Pipe) -> None:
        super().__init__(pos, src)
        self.pipe = pipe


class _List(_Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int, src: str, nodes: list[_Node]) -> None:
        super().__init__(pos, src)
        self.nodes = nodes


class _Branch(_Node):
    __slots__ = ("body", "else_body", "kind", "pipe")

    def __init__(self, pos: int, src: str, kind: str, pipe: _Pipe, body: _List,
                 else_body: _List | None) -> None:
        super().__init__(pos, src)
        self.kind = kind  # if, range, with
        self.pipe = pipe
        self.body = body
        self.else_body = else_body


class _TemplateCall(_Node):
    """``{{template "name"}}``: parsed, but no templates are ever defined here."""

    __slots__ = ("name",)

    def __init__(self, pos: int, src: str, name: str) -> None:
        super().__init__(pos, src)
        self.name = name


class _Loop(_Node):
    __slots__ = ("kind",)  # break, continue

    def __init__(self, pos: int, src: str, kind: str) -> None:
        super().__init__(pos, src)
        self.kind = kind


# --- parser -------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str, name: str, funcs: dict[str, Callable[..., Any]]) -> None:
        self.text = text
        self.name = name
        self.funcs = funcs
        self.toks = _Lexer(text, name).run()
        self.i = 0
        self.vars: list[str] = ["$"]
        self.range_depth = 0

    # token helpers
    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def peek_non_space(self) -> _Tok:
        j = self.i
        while self.toks[j].kind == "space":
            j += 1
        return self.toks[j]

    def next_non_space(self) -> _Tok:
        tok = self.next()
        while tok.kind == "space":
            tok = self.next()
        return tok

    def error(self, msg: str, tok: _Tok | None = None) -> TemplateError:
        line = tok.line if tok is not None else self.peek().line
        return TemplateError(f"template: {self.name}:{line}: {msg}")

    def unexpected(self, tok: _Tok, context: str) -> TemplateError:
        if tok.kind == "eof":
            return self.error("unexpected EOF", tok)
        from ketch.cli.goprint import go_quote

        # Go's item.String(): keywords (dot and nil included) in angle brackets, long
        # values cut to 10 characters.
        if tok.kind in ("keyword", "dot", "nil"):
            shown = f"<{tok.val}>"
        elif len(tok.val) > 10:
            shown = go_quote(tok.val[:10]) + "..."
        else:
            shown = go_quote(tok.val)
        return self.error(f"unexpected {shown} in {context}", tok)

    # grammar
    def parse(self) -> _List:
        body, _ = self.item_list(top=True)
        return body

    def item_list(self, top: bool = False) -> tuple[_List, str]:
        """Items until {{end}} / {{else}} (returned as the terminator) or EOF at top level."""
        nodes: list[_Node] = []
        start = self.peek().pos
        while True:
            tok = self.peek()
            if tok.kind == "eof":
                if not top:
                    raise self.error("unexpected EOF", tok)
                return _List(start, "", nodes), "eof"
            if tok.kind == "text":
                self.next()
                nodes.append(_Text(tok.pos, tok.val, tok.val))
                continue
            if tok.kind != "ldelim":  # pragma: no cover - the lexer guarantees it
                raise self.unexpected(tok, "input")
            self.next()
            kw = self.peek_non_space()
            if kw.kind == "keyword" and kw.val in ("end", "else"):
                self.next_non_space()
                if top:
                    raise self.error(f"unexpected {{{{{kw.val}}}}}", kw)
                return _List(start, "", nodes), kw.val
            nodes.append(self.action())

    def action(self) -> _Node:
        tok = self.peek_non_space()
        if tok.kind == "keyword":
            self.next_non_space()
            if tok.val in ("if", "with", "range"):
                return self.branch(tok)
            if tok.val == "template":
                return self.template_call()
            if tok.val in ("break", "continue"):
                if not self.range_depth:
                    raise self.error(f"{{{{{tok.val}}}}} outside {{{{range}}}}", tok)
                self.expect_rdelim(tok.val)
                return _Loop(tok.pos, tok.val, tok.val)
            raise self.error(f"{{{{{tok.val}}}}} is not supported", tok)
        pipe = self.pipeline("command", allow_decl=True)
        return _Action(tok.pos, pipe.src, pipe)

    def template_call(self) -> _TemplateCall:
        name_tok = self.next_non_space()
        if name_tok.kind != "string":
            raise self.unexpected(name_tok, "template clause")
        raw = name_tok.val
        name = _unquote(raw[1:-1], '"') if raw.startswith('"') else raw[1:-1]
        if self.peek_non_space().kind == "rdelim":
            self.next_non_space()
        else:
            self.pipeline("template clause")
        return _TemplateCall(name_tok.pos, "{{template " + raw + "}}", name)

    def expect_rdelim(self, context: str) -> None:
        tok = self.next_non_space()
        if tok.kind != "rdelim":
            raise self.unexpected(tok, context)

    def branch(self, kw: _Tok) -> _Branch:
        mark = len(self.vars)
        if kw.val == "range":
            self.range_depth += 1
        pipe = self.pipeline(kw.val, allow_decl=True, range_decl=kw.val == "range")
        body, end = self.item_list()
        if kw.val == "range":
            self.range_depth -= 1
        else_body: _List | None = None
        if end == "else":
            nxt = self.peek_non_space()
            if nxt.kind == "keyword" and nxt.val in ("if", "with") and kw.val != "range":
                # {{else if ...}} / {{else with ...}}: a nested branch sharing our {{end}}
                self.next_non_space()
                nested = self.branch(nxt)
                else_body = _List(nxt.pos, "", [nested])
            else:
                self.expect_rdelim("else")
                else_body, end2 = self.item_list()
                if end2 != "end":
                    raise self.error("expected end; found {{else}}")
                self.expect_rdelim("end")
        else:
            self.expect_rdelim("end")
        del self.vars[mark:]
        return _Branch(kw.pos, kw.val, kw.val, pipe, body, else_body)

    def pipeline(self, context: str, allow_decl: bool = False,
                 range_decl: bool = False) -> _Pipe:
        start_tok = self.peek_non_space()
        decl: list[str] = []
        is_assign = False
        if allow_decl and start_tok.kind == "var":
            save = self.i
            self.next_non_space()
            after = self.peek_non_space()
            names = [start_tok.val]
            if after.kind == "comma" and range_decl:
                self.next_non_space()
                second = self.next_non_space()
                if second.kind != "var":
                    raise self.error(f"expected variable in range declaration, got {second.val}")
                names.append(second.val)
                after = self.peek_non_space()
                if after.kind not in ("declare", "assign"):
                    raise self.error("expected := or = in range declaration", after)
            if after.kind in ("declare", "assign"):
                self.next_non_space()
                decl = names
                is_assign = after.kind == "assign"
                if is_assign:
                    for nm in names:
                        if nm not in self.vars:
                            raise self.error(f'undefined variable "{nm}"')
                else:
                    self.vars.extend(names)
            else:
                self.i = save
        cmds: list[_Command] = []
        end_kinds = ("rdelim", "rparen")
        src_end = start_tok.pos
        while True:
            tok = self.peek_non_space()
            if tok.kind in end_kinds:
                if tok.kind == "rparen" and context != "parenthesized pipeline":
                    raise self.unexpected(tok, "operand")
                if not cmds:
                    raise self.error(f"missing value for {context}", tok)
                src_end = tok.pos
                if context != "parenthesized pipeline":
                    self.next_non_space()
                break
            cmds.append(self.command())
            if self.peek_non_space().kind == "pipe":
                self.next_non_space()
        for i, cmd in enumerate(cmds[1:]):
            if isinstance(cmd.args[0], (_Literal, _Dot, _Nil)):
                raise self.error(f"non executable command in pipeline stage {i + 2}", start_tok)
        src = self.text[start_tok.pos:src_end].strip()
        return _Pipe(start_tok.pos, src, decl, is_assign, cmds)

    def command(self) -> _Command:
        args: list[_Node] = []
        start = self.peek_non_space().pos
        while True:
            if args and self.peek().kind != "space":
                tok = self.peek()
                if tok.kind not in ("rdelim", "rparen", "pipe"):
                    raise self.unexpected(tok, "operand")
            tok = self.peek_non_space()
            if tok.kind in ("rdelim", "rparen", "pipe", "eof"):
                break
            args.append(self.operand())
        if not args:
            raise self.error("empty command")
        end = self.peek().pos
        return _Command(start, self.text[start:end].strip(), args)

    def operand(self) -> _Node:
        node = self.term()
        if self.peek().kind == "field":
            # Go positions a chain at its second field: errors in .A.B give the column of .B
            chain_pos = self.peek().pos
            fields: list[str] = []
            while self.peek().kind == "field":
                fields.append(self.next().val)
            src = self.text[node.pos:self.peek().pos]
            if isinstance(node, _Field):
                return _Field(chain_pos, src, node.idents + fields)
            if isinstance(node, _Variable):
                return _Variable(chain_pos, src, node.idents + fields)
            if isinstance(node, (_Literal, _Nil)):
                raise self.error(f'unexpected . after term "{node.src}"')
            return _Chain(chain_pos, src, node, fields)
        return node

    def term(self) -> _Node:
        tok = self.next_non_space()
        k = tok.kind
        if k == "ident":
            if tok.val not in self.funcs:
                raise self.error(f'function "{tok.val}" not defined', tok)
            return _Identifier(tok.pos, tok.val, tok.val)
        if k == "dot":
            return _Dot(tok.pos, ".")
        if k == "nil":
            return _Nil(tok.pos, "nil")
        if k == "var":
            if tok.val not in self.vars:
                raise self.error(f'undefined variable "{tok.val}"', tok)
            return _Variable(tok.pos, tok.val, [tok.val])
        if k == "field":
            return _Field(tok.pos, "." + tok.val, [tok.val])
        if k == "bool":
            return _Literal(tok.pos, tok.val, tok.val == "true")
        if k == "number":
            return _Literal(tok.pos, tok.val, self.number(tok))
        if k == "charconst":
            return _Literal(tok.pos, tok.val, ord(_unquote(tok.val[1:-1], "'")))
        if k == "string":
            if tok.val.startswith("`"):
                return _Literal(tok.pos, tok.val, tok.val[1:-1])
            return _Literal(tok.pos, tok.val, _unquote(tok.val[1:-1], '"'))
        if k == "lparen":
            pipe = self.pipeline("parenthesized pipeline")
            close = self.next_non_space()
            if close.kind != "rparen":
                raise self.unexpected(close, "parenthesized pipeline")
            pipe.src = self.text[tok.pos:close.pos + 1]
            return pipe
        raise self.unexpected(tok, "operand")

    def number(self, tok: _Tok) -> int | float:
        text = tok.val.replace("_", "")
        try:
            return int(text, 0)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise self.error(f'bad number syntax: "{tok.val}"', tok) from None


def _unquote(body: str, quote: str) -> str:
    """Go's escape sequences inside a quoted string or char literal."""
    out: list[str] = []
    i = 0
    simple = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
              "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 >= len(body):
            out.append(ch)
            i += 1
            continue
        esc = body[i + 1]
        if esc in simple:
            out.append(simple[esc])
            i += 2
        elif esc == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif esc == "u":
            out.append(chr(int(body[i + 2:i + 6], 16)))
            i += 6
        elif esc == "U":
            out.append(chr(int(body[i + 2:i + 10], 16)))
            i += 10
        elif esc in "01234567":
            out.append(chr(int(body[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(body[i:i + 2])
            i += 2
    return "".join(out)


# --- builtin functions ------------------------------------------------------------


def _truth(value: Any) -> bool:
    if value is NO_VALUE or value is None:
        return False
    if isinstance(value, JSONNumber):
        return bool(value.text)
    if isinstance(value, TemplateObject):
        return True
    return bool(value)


def _want_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    raise FuncError(f"wrong type for value; expected string; got {go_type_name(value)}")


def _want_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise FuncError(f"wrong type for value; expected int; got {go_type_name(value)}")


def _fn_json(value: Any) -> str:
    if isinstance(value, TemplateObject) and not hasattr(value, "_fields"):
        return go_json(value, escape_html=True)  # Docker's contexts marshal themselves
    return go_json(value)


def _fn_split(s: Any, sep: Any) -> list[str]:
    text, sepr = _want_str(s), _want_str(sep)
    if sepr == "":
        return GoStringList(text)
    return GoStringList(text.split(sepr))


def _fn_join(items: Any, sep: Any) -> str:
    if not isinstance(items, list):
        raise FuncError(f"wrong type for value; expected []string; got {go_type_name(items)}")
    return _want_str(sep).join(go_str(x) for x in items)


def _fn_title(s: Any) -> str:
    text = _want_str(s)
    out: list[str] = []
    prev_sep = True
    for ch in text:
        out.append(ch.upper() if prev_sep else ch)
        prev_sep = not (ch.isalnum() or ch == "_") and ch != "'"
    return "".join(out)


def _fn_pad(s: Any, prefix: Any, suffix: Any) -> str:
    text = _want_str(s)
    if text == "":
        return text
    return " " * _want_int(prefix) + text + " " * _want_int(suffix)


def _fn_truncate(s: Any, length: Any) -> str:
    text, n = _want_str(s), _want_int(length)
    if len(text.encode()) < n:
        return text
    return text.encode()[:n].decode(errors="ignore")


def _fn_index(item: Any, *indexes: Any) -> Any:
    value = item
    for idx in indexes:
        if value is None or value is NO_VALUE:
            raise FuncError("index of untyped nil")
        if isinstance(value, dict):
            if idx in value:
                value = value[idx]
            elif value and all(isinstance(v, str) for v in value.values()):
                value = ""  # a map[string]string gives its zero value
            else:
                value = NO_VALUE
        elif isinstance(value, list | str):
            if not isinstance(idx, int) or isinstance(idx, bool):
                raise FuncError(f"cannot index slice/array with type {go_type_name(idx)}")
            if idx < 0 or idx >= len(value):
                raise FuncError(f"index out of range: {idx}")
            value = value[idx] if isinstance(value, list) else GoUint8(value.encode()[idx])
        else:
            raise FuncError(f"can't index item of type {go_type_name(value)}")
    return value


def _fn_slice(item: Any, *indexes: Any) -> Any:
    if not isinstance(item, list | str):
        raise FuncError(f"can't slice item of type {go_type_name(item)}")
    idx = [_want_int(i) for i in indexes][:2]
    start = idx[0] if idx else 0
    end = idx[1] if len(idx) > 1 else len(item)
    if start < 0 or end > len(item) or start > end:
        raise FuncError(f"index out of range: {end if end > len(item) else start}")
    return item[start:end]


def _fn_len(item: Any) -> int:
    if isinstance(item, JSONNumber):
        return len(item.text)
    if isinstance(item, list | dict | str):
        return len(item.encode()) if isinstance(item, str) else len(item)
    if item is None or item is NO_VALUE:
        raise FuncError("len of nil pointer")
    raise FuncError(f"len of type {go_type_name(item)}")


def _basic(value: Any) -> str:
    if isinstance(value, JSONNumber):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None or value is NO_VALUE:
        return "nil"
    return "other"


def _plain(value: Any) -> Any:
    return value.text if isinstance(value, JSONNumber) else value


def _fn_eq(arg1: Any, *args: Any) -> bool:
    if not args:
        raise FuncError("missing argument for comparison")
    k1 = _basic(arg1)
    for arg in args:
        k2 = _basic(arg)
        if k1 == "nil" or k2 == "nil":
            if k1 == k2:
                return True
            continue
        if k1 != k2:
            raise FuncError("incompatible types for comparison")
        if k1 == "other":
            if isinstance(arg1, list | dict) or isinstance(arg, list | dict):
                raise FuncError(f"non-comparable type {go_str(arg1)}: {go_type_name(arg1)}")
            if arg1 is arg:
                return True
            continue
        if _plain(arg1) == _plain(arg):
            return True
    return False


def _fn_ne(a: Any, b: Any) -> bool:
    return not _fn_eq(a, b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any]:
    ka, kb = _basic(a), _basic(b)
    if ka not in ("number", "string") or kb not in ("number", "string"):
        raise FuncError("invalid type for comparison")
    if ka != kb:
        raise FuncError("incompatible types for comparison")
    return _plain(a), _plain(b)


def _fn_lt(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x < y)


def _fn_le(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x <= y)


def _fn_gt(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x > y)


def _fn_ge(a: Any, b: Any) -> bool:
    x, y = _ordered(a, b)
    return bool(x >= y)


def _fn_and(*args: Any) -> Any:
    for a in args:
        if not _truth(a):
            return a
    return args[-1]


def _fn_or(*args: Any) -> Any:
    for a in args:
        if _truth(a):
            return a
    return args[-1]


def _fn_not(a: Any) -> bool:
    return not _truth(a)


def _fn_printf(fmt: Any, *args: Any) -> str:
    return go_sprintf(_want_str(fmt), list(args))


def _fn_html(*args: Any) -> str:
    text = go_sprint(list(args))
    return (text.replace("&", "&amp;").replace("'", "&#39;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&#34;").replace("\x00", "\ufffd"))


def _fn_urlquery(*args: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(go_sprint(list(args)))


def _fn_js(*args: Any) -> str:
    text = go_sprint(list(args))
    out = []
    for ch in text:
        if ch in "\\'\"":
            out.append("\\" + ch)
        elif ch in "<>&=" or ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return "".join(out)


BUILTINS: dict[str, Callable[..., Any]] = {
    "and": _fn_and,
    "or": _fn_or,
    "not": _fn_not,
    "len": _fn_len,
    "index": _fn_index,
    "slice": _fn_slice,
    "print": lambda *a: go_sprint(list(a)),
    "println": lambda *a: go_sprintln(list(a)),
    "printf": _fn_printf,
    "eq": _fn_eq,
    "ne": _fn_ne,
    "lt": _fn_lt,
    "le": _fn_le,
    "gt": _fn_gt,
    "ge": _fn_ge,
    "html": _fn_html,
    "js": _fn_js,
    "urlquery": _fn_urlquery,
    # Docker's additions (templates/templates.go)
    "json": _fn_json,
    "split": _fn_split,
    "join": _fn_join,
    "title": _fn_title,
    "lower": lambda s: _want_str(s).lower(),
    "upper": lambda s: _want_str(s).upper(),
    "pad": _fn_pad,
    "truncate": _fn_truncate,
}

#: Docker executes table headers with these replacing the formatting functions,
#: so that ``{{upper .Name}}`` still shows the plain header.
HEADER_FUNCS: dict[str, Callable[..., Any]] = {
    "json": lambda v: _want_str(v),
    "split": lambda v, _s: _want_str(v),
    "join": lambda v, _s: _want_str(v),
    "title": lambda v: _want_str(v),
    "lower": lambda v: _want_str(v),
    "upper": lambda v: _want_str(v),
    "truncate": lambda v, _n: _want_str(v),
}

#: Go parameter types of the functions, checked before a call as Go checks them:
#: (fixed parameters, type of the variadic rest or None). "any" accepts everything.
SIGNATURES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "and": (("any",), "any"), "or": (("any",), "any"), "not": (("any",), None),
    "len": (("any",), None), "index": (("any",), "any"), "slice": (("any",), "any"),
    "print": ((), "any"), "println": ((), "any"), "printf": (("string",), "any"),
    "eq": (("any",), "any"), "ne": (("any", "any"), None), "lt": (("any", "any"), None),
    "le": (("any", "any"), None), "gt": (("any", "any"), None), "ge": (("any", "any"), None),
    "html": ((), "any"), "js": ((), "any"), "urlquery": ((), "any"),
    "json": (("any",), None), "split": (("string", "string"), None),
    "join": (("[]string", "string"), None), "title": (("string",), None),
    "lower": (("string",), None), "upper": (("string",), None),
    "pad": (("string", "int", "int"), None), "truncate": (("string", "int"), None),
}


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "any":
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "[]string":
        return isinstance(value, GoStringList)
    return True


# --- execution ----------------------------------------------------------------


class _ExecError(Exception):
    def __init__(self, node: _Node, msg: str) -> None:
        super().__init__(msg)
        self.node = node
        self.msg = msg


class Template:
    """A parsed template; ``execute(data)`` renders it to a string."""

    def __init__(self, text: str, name: str = "",
                 funcs: dict[str, Callable[..., Any]] | None = None,
                 missingkey_error: bool = False) -> None:
        self.text = text
        self.name = name
        self.funcs: dict[str, Callable[..., Any]] = dict(BUILTINS)
        if funcs:
            self.funcs.update(funcs)
        self.missingkey_error = missingkey_error
        self.root = _Parser(text, name, self.funcs).parse()

    def execute(self, data: Any, funcs: dict[str, Callable[..., Any]] | None = None,
                missingkey_error: bool | None = None) -> str:
        """Render with ``data`` as dot; raises TemplateError with Go's message.

        ``funcs`` replace functions for this run only (Docker renders table headers
        with HEADER_FUNCS); output produced before an error is in ``exc.partial``.
        """
        run_funcs = dict(self.funcs)
        if funcs:
            run_funcs.update(funcs)
        missing = self.missingkey_error if missingkey_error is None else missingkey_error
        state = _State(self, data, run_funcs, missing)
        try:
            state.walk(data, self.root)
        except _ExecError as exc:
            err = TemplateError(self._exec_message(exc))
            err.partial = "".join(state.out)  # type: ignore[attr-defined]
            raise err from None
        return "".join(state.out)

    def _exec_message(self, exc: _ExecError) -> str:
        pos = exc.node.pos
        before = self.text[:pos]
        line = 1 + before.count("\n")
        nl = before.rfind("\n")
        col = pos if nl < 0 else pos - (nl + 1)
        return (f"template: {self.name}:{line}:{col}: executing {_goquote(self.name)} "
                f"at <{exc.node.src}>: {exc.msg}")


def _goquote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


class _State:
    def __init__(self, tmpl: Template, data: Any, funcs: dict[str, Callable[..., Any]],
                 missing_error: bool) -> None:
        self.tmpl = tmpl
        self.funcs = funcs
        self.missing_error = missing_error
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []

    # variables
    def var_value(self, node: _Node, name: str) -> Any:
        for nm, val in reversed(self.vars):
            if nm == name:
                return val
        raise _ExecError(node, f"undefined variable: {name}")

    def set_var(self, node: _Node, name: str, value: Any) -> None:
        for k in range(len(self.vars) - 1, -1, -1):
            if self.vars[k][0] == name:
                self.vars[k] = (name, value)
                return
        raise _ExecError(node, f"undefined variable: {name}")

    # walking
    def walk(self, dot: Any, node: _Node) -> None:
        if isinstance(node, _List):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, _Text):
            self.out.append(node.text)
        elif isinstance(node, _Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(self.printable(node, value))
        elif isinstance(node, _Branch):
            self.walk_branch(dot, node)
        elif isinstance(node, _Loop):
            raise _Break() if node.kind == "break" else _Continue()
        elif isinstance(node, _TemplateCall):
            raise _ExecError(node, f'template "{node.name}" not defined')
        else:  # pragma: no cover - the parser produces no other nodes here
            raise _ExecError(node, "unknown node")

    def printable(self, node: _Node, value: Any) -> str:
        if callable(value) and not isinstance(value, TemplateObject):
            raise _ExecError(node, "can't print value of type func")
        return go_str(value)

    def walk_branch(self, dot: Any, node: _Branch) -> None:
        mark = len(self.vars)
        if node.kind == "range":
            self.walk_range(dot, node, mark)
            return
        value = self.eval_pipeline(dot, node.pipe)
        if _truth(value):
            self.walk(value if node.kind == "with" else dot, node.body)
        elif node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def walk_range(self, dot: Any, node: _Branch, mark: int) -> None:
        pipe = node.pipe
        value = self.eval_pipeline(dot, _Pipe(pipe.pos, pipe.src, [], False, pipe.cmds))
        items: list[tuple[Any, Any]]
        if isinstance(value, dict):
            items = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, list):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        elif value is None or value is NO_VALUE:
            items = []
        else:
            # Go reports it at the last node it evaluated: the pipeline's last operand.
            at = pipe.cmds[-1].args[-1] if pipe.cmds else node
            raise _ExecError(at, f"range can't iterate over {go_str(value)}")
        for key, elem in items:
            if pipe.decl:
                if len(pipe.decl) == 1:
                    self._decl(node, pipe, pipe.decl[0], elem)
                else:
                    self._decl(node, pipe, pipe.decl[0], key)
                    self._decl(node, pipe, pipe.decl[1], elem)
            try:
                self.walk(elem, node.body)
            except _Break:
                break
            except _Continue:
                pass
            finally:
                if not pipe.is_assign:
                    del self.vars[mark:]
        if not items and node.else_body is not None:
            self.walk(dot, node.else_body)
        del self.vars[mark:]

    def _decl(self, node: _Node, pipe: _Pipe, name: str, value: Any) -> None:
        if pipe.is_assign:
            self.set_var(node, name, value)
        else:
            self.vars.append((name, value))

    def eval_pipeline(self, dot: Any, pipe: _Pipe) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self.eval_command(dot, cmd, value)
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(pipe, name, value)
            else:
                self.vars.append((name, value))
        return value

    def not_a_function(self, cmd: _Command, final: Any) -> None:
        if len(cmd.args) > 1 or final is not _MISSING:
            raise _ExecError(cmd.args[0], f"can't give argument to non-function {cmd.args[0]}")

    def eval_command(self, dot: Any, cmd: _Command, final: Any) -> Any:
        first = cmd.args[0]
        if isinstance(first, _Field):
            return self.eval_field_chain(dot, dot, first, first.idents, cmd.args, final,
                                         dig=True)
        if isinstance(first, _Chain):
            receiver = self.eval_arg(dot, first.node)
            return self.eval_field_chain(dot, receiver, first, first.fields, cmd.args, final,
                                         dig=True)
        if isinstance(first, _Identifier):
            return self.eval_function(dot, first, cmd, final)
        if isinstance(first, _Pipe):
            self.not_a_function(cmd, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, _Variable):
            value = self.var_value(first, first.idents[0])
            if len(first.idents) == 1:
                self.not_a_function(cmd, final)
                return value
            return self.eval_field_chain(dot, value, first, first.idents[1:], cmd.args, final)
        self.not_a_function(cmd, final)
        if isinstance(first, _Dot):
            return dot
        if isinstance(first, _Nil):
            raise _ExecError(first, "nil is not a command")
        if isinstance(first, _Literal):
            return first.value
        raise _ExecError(first, f"can't evaluate command {first}")

    def eval_arg(self, dot: Any, node: _Node) -> Any:
        if isinstance(node, _Dot):
            return dot
        if isinstance(node, _Nil):
            return None
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Field):
            return self.eval_field_chain(dot, dot, node, node.idents, [node], _MISSING)
        if isinstance(node, _Variable):
            value = self.var_value(node, node.idents[0])
            if len(node.idents) == 1:
                return value
            return self.eval_field_chain(dot, value, node, node.idents[1:], [node], _MISSING)
        if isinstance(node, _Pipe):
            return self.eval_pipeline(dot, node)
        if isinstance(node, _Chain):
            receiver = self.eval_arg(dot, node.node)
            return self.eval_field_chain(dot, receiver, node, node.fields, [node], _MISSING)
        if isinstance(node, _Identifier):
            return self.eval_function(dot, node, _Command(node.pos, node.src, [node]), _MISSING)
        raise _ExecError(node, f"can't handle {node} as argument")

    def eval_function(self, dot: Any, ident: _Identifier, cmd: _Command, final: Any) -> Any:
        """Evaluate and type-check the arguments as Go does, then call."""
        fn = self.funcs[ident.name]
        arg_nodes = cmd.args[1:]
        count = len(arg_nodes) + (0 if final is _MISSING else 1)
        sig = SIGNATURES.get(ident.name)
        if sig is not None:
            fixed, rest = sig
            if (rest is None and count != len(fixed)) or (rest is not None and count < len(fixed)):
                want = f"want at least {len(fixed)}" if rest is not None else f"want {len(fixed)}"
                raise _ExecError(ident, f"wrong number of args for {ident.name}: {want} "
                                        f"got {count}")
        args: list[Any] = []
        for i, node in enumerate(arg_nodes):
            value = self.eval_arg(dot, node)
            self._check_type(sig, i, value, node)
            args.append(value)
        if final is not _MISSING:
            self._check_type(sig, len(args), final, ident)
            args.append(final)
        return self.call(cmd, ident.name, fn, args)

    def _check_type(self, sig: tuple[tuple[str, ...], str | None] | None, i: int,
                    value: Any, node: _Node) -> None:
        if sig is None:
            return
        fixed, rest = sig
        kind = fixed[i] if i < len(fixed) else (rest or "any")
        if value is NO_VALUE and kind != "any":
            raise _ExecError(node, f"invalid value; expected {kind}")
        if not _type_ok(kind, value):
            raise _ExecError(node, f"wrong type for value; expected {kind}; "
                                   f"got {go_type_name(value)}")

    def call(self, node: _Node, name: str, fn: Callable[..., Any], args: list[Any]) -> Any:
        try:
            return fn(*args)
        except FuncError as exc:
            raise _ExecError(node, f"error calling {name}: {exc}") from None
        except TypeError as exc:
            tb = exc.__traceback__
            if tb is not None and tb.tb_next is not None:  # raised inside the function
                raise _ExecError(node, f"error calling {name}: {exc}") from None
            raise _ExecError(node, f"wrong number of args for {name}: "
                                   f"{_arity(fn)} got {len(args)}") from None

    def eval_field_chain(self, dot: Any, receiver: Any, node: _Node, idents: list[str],
                         args: list[_Node], final: Any, dig: bool = False) -> Any:
        """The chain's value; with ``dig`` (a pipeline command's result) a nil taken out of
        a map becomes NO_VALUE, as Go's pipeline digs into the ``interface {}``."""
        from_map = False
        for ident in idents[:-1]:
            receiver, from_map = self.eval_field(dot, ident, node, [], _MISSING, receiver,
                                                 from_map)
        value, from_map = self.eval_field(dot, idents[-1], node, args, final, receiver,
                                          from_map)
        if dig and value is None and from_map:
            # A nil ``interface {}`` out of a map: Go's pipeline digs into it and finds
            # no value at all ("<no value>"), unlike a typed nil pointer ("<nil>").
            return NO_VALUE
        return value

    def eval_field(self, dot: Any, name: str, node: _Node, args: list[_Node], final: Any,
                   receiver: Any, from_map: bool) -> tuple[Any, bool]:
        """The field's value, and whether it came out of a plain map (an ``interface {}``)."""
        has_args = len(args) > 1 or final is not _MISSING
        if receiver is NO_VALUE:
            if self.missing_error:
                raise _ExecError(node, f'nil data; no entry for key "{name}"')
            return NO_VALUE, False
        if isinstance(receiver, TemplateObject):
            method = receiver.template_field(name)
            if method is None:
                raise _ExecError(node, f"can't evaluate field {name} in type {receiver.GO_TYPE}")
            call_args = [self.eval_arg(dot, a) for a in args[1:]]
            if final is not _MISSING:
                call_args.append(final)
            return self.call(node, name, method, call_args), False
        if isinstance(receiver, dict):
            if has_args:
                raise _ExecError(node, f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name], not isinstance(receiver, NilMap)
            if self.missing_error:
                raise _ExecError(node, f'map has no entry for key "{name}"')
            return NO_VALUE, False
        if receiver is None:
            raise _ExecError(node, f"nil pointer evaluating interface {{}}.{name}")
        type_name = "interface {}" if from_map else go_type_name(receiver)
        raise _ExecError(node, f"can't evaluate field {name} in type {type_name}")


def _arity(fn: Callable[..., Any]) -> str:
    """Go's "want N" / "want at least N" for a function's parameters."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return "want ?"
    required = sum(1 for p in params if p.default is p.empty
                   and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return f"want at least {required}"
    return f"want {required}"


def parse(text: str, name: str = "", funcs: dict[str, Callable[..., Any]] | None = None,
          missingkey_error: bool = False) -> Template:
    """Parse ``text``; raises TemplateError (``template: :1: ...``) if it is malformed."""
    return Template(text, name, funcs, missingkey_error)


__all__ = [
    "BUILTINS",
    "HEADER_FUNCS",
    "NO_VALUE",
    "FuncError",
    "Template",
    "TemplateError",
    "TemplateObject",
    "parse",
]
