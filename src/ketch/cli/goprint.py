"""Go ``fmt`` printing of the values that templates see.

``--format`` output is compared by scripts with what the Docker CLI prints, and
the Docker CLI prints through Go's ``fmt``: slices as ``[a b]``, maps as
``map[k:v]`` with sorted keys, nil as ``<nil>``, floats in ``%v`` shortest form.
This module holds that printing, and a small ``printf`` with Go's verbs.
"""

from __future__ import annotations

import json

TYPE_CHECKING = False  # typing is not imported at run time: it costs startup time
if TYPE_CHECKING:
    from typing import Any


if TYPE_CHECKING:
    _ListBase = list[Any]
    _DictBase = dict[str, Any]
else:
    _ListBase = list
    _DictBase = dict


class GoStringList(_ListBase):
    """A typed Go ``[]string`` (``join`` accepts it; a plain list is ``[]interface {}``)."""


class NilList(GoStringList):
    """A nil Go slice: prints ``[]`` but encodes to JSON ``null``.

    Typed Docker structures turn JSON ``null`` into nil slices, which Go prints
    as ``[]``; keeping the distinction makes ``{{.Config.Entrypoint}}`` print
    ``[]`` while ``{{json .Config.Entrypoint}}`` still prints ``null``.
    """


class GoMap(_DictBase):
    """A Go map (raw JSON objects, map fields of typed structs): ``encoding/json``
    writes its keys sorted. Plain dicts stand for structs and keep their order."""


class NilMap(GoMap):
    """A nil Go map: prints ``map[]`` but encodes to JSON ``null``."""


class JSONNumber:
    """A number of raw JSON as Go's decoder gives it with ``UseNumber``: a string type.

    Docker falls back to templates over raw JSON decoded that way, where numbers
    print as written, have a ``len`` and are not accepted where a string is."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"JSONNumber({self.text})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONNumber) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def value(self) -> Any:
        return json.loads(self.text)


def loads_raw(text: str | bytes) -> Any:
    """Decode JSON the way Docker's raw fallback does (numbers kept as JSONNumber)."""
    return json.loads(text, parse_int=JSONNumber, parse_float=JSONNumber,
                      object_pairs_hook=GoMap)


class NoValue:
    """The invalid reflect.Value of Go templates: a missing map key; prints ``<no value>``."""

    _instance: NoValue | None = None

    def __new__(cls) -> NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE = NoValue()


class TemplateObject:
    """A value whose fields are computed (Docker's formatter contexts).

    Subclasses list their field names in ``FIELDS``; each is a method without
    arguments (or with arguments, for ``{{.Label "x"}}``-style calls).
    """

    #: Go type name used in "can't evaluate field X in type T" errors.
    GO_TYPE = "*formatter.context"
    FIELDS: tuple[str, ...] = ()

    def template_field(self, name: str) -> Any:
        """The bound method for ``name``, or ``None`` if the type has no such field."""
        if name in self.FIELDS:
            return getattr(self, name)
        return None

    def json_value(self) -> dict[str, Any]:
        """The object as Docker marshals it: every argument-less field, keys sorted."""
        out: dict[str, Any] = {}
        for name in sorted(self.FIELDS):
            method = getattr(self, name)
            if getattr(method, "takes_args", False):
                continue
            out[name] = method()
        return out


def go_type_name(value: Any) -> str:
    """A Go-looking type name, for error messages."""
    if isinstance(value, TemplateObject):
        return value.GO_TYPE
    if isinstance(value, GoUint8):
        return "uint8"
    if isinstance(value, JSONNumber):
        return "json.Number"
    if isinstance(value, GoStringList):
        return "[]string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    return "<nil>"


def format_float(value: float, verb: str = "v", prec: int = -1) -> str:
    """Go's ``%v``/``%g`` (shortest), ``%e`` and ``%f`` for a float."""
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if verb == "f":
        return f"{value:.{6 if prec < 0 else prec}f}"
    if verb == "e":
        return _go_exp(f"{value:.{6 if prec < 0 else prec}e}")
    if prec >= 0:
        return _go_exp(f"{value:.{max(prec, 1)}g}")
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.lstrip("-").replace(".", "")
    if mantissa.endswith(".0"):
        digits = digits[:-1]
    lead = len(digits) - len(digits.lstrip("0"))
    sig = digits.strip("0") or "0"
    bare = mantissa.lstrip("-")
    point = bare.index(".") if "." in bare else len(bare)
    exponent = (int(exp_text) if exp_text else 0) + point - 1 - lead
    if sig == "0":
        return "-0" if text.startswith("-") else "0"
    if exponent < -4 or exponent >= 6:
        body = sig[0] + ("." + sig[1:] if len(sig) > 1 else "")
        sign = "-" if value < 0 else ""
        return f"{sign}{body}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    return _plain_float(value)


def _plain_float(value: float) -> str:
    text = repr(value)
    if "e" in text:
        text = f"{value:f}".rstrip("0").rstrip(".")
    if text.endswith(".0"):
        text = text[:-2]
    return text


def _go_exp(text: str) -> str:
    """Python writes ``1e+06`` already; make sure there are two exponent digits."""
    if "e" not in text:
        return text
    mantissa, _, exp = text.partition("e")
    sign = exp[0] if exp[0] in "+-" else "+"
    digits = exp.lstrip("+-")
    return f"{mantissa}e{sign}{int(digits):02d}"


def go_str(value: Any, top: bool = True) -> str:
    """``fmt.Sprint`` of one value, as a template's ``{{.}}`` prints it."""
    if isinstance(value, str):
        return value
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, JSONNumber):
        return value.text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, dict):
        items = " ".join(
            f"{go_str(k, False)}:{go_str(value[k], False)}" for k in sorted(value, key=str)
        )
        return f"map[{items}]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_str(v, False) for v in value) + "]"
    if isinstance(value, GoTime):
        return value.String()
    if isinstance(value, GoStruct):
        return "{" + " ".join(go_str(value.get(f), False) for f in value.FIELDS) + "}"
    if isinstance(value, TemplateObject):
        return "&" + go_str(value.json_value(), False).replace("map[", "{", 1)
    return str(value)


def go_sprint(args: list[Any]) -> str:
    """``fmt.Sprint``: spaces only between operands that are both non-strings."""
    out: list[str] = []
    prev_string = True
    for i, arg in enumerate(args):
        is_string = isinstance(arg, str)
        if i > 0 and not is_string and not prev_string:
            out.append(" ")
        out.append(go_str(arg))
        prev_string = is_string
    return "".join(out)


def go_sprintln(args: list[Any]) -> str:
    """``fmt.Sprintln``: always spaces, then a newline."""
    return " ".join(go_str(a) for a in args) + "\n"


def go_quote(text: str) -> str:
    """``strconv.Quote``: a double-quoted Go string literal."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x80 or ch.isprintable():
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_SIMPLE_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def go_json(value: Any, escape_html: bool = False) -> str:
    """``encoding/json`` output of a template value (compact, UTF-8, no trailing newline)."""
    text = json.dumps(_jsonable(value), ensure_ascii=False, separators=(",", ":"))
    text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text


def _jsonable(value: Any) -> Any:
    if isinstance(value, NilList | NilMap) and not value:
        return None
    if value is NO_VALUE:
        return None
    if isinstance(value, JSONNumber):
        return value.value()
    if isinstance(value, GoTime):
        return value.text
    if isinstance(value, TemplateObject):  # a struct: fields in declaration order
        return {k: _jsonable(v) for k, v in value.json_value().items()}
    if isinstance(value, GoMap):  # encoding/json sorts the keys of maps
        return {k: _jsonable(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# --- printf -----------------------------------------------------------------


def go_sprintf(fmt: str, args: list[Any]) -> str:
    """``fmt.Sprintf`` for the common verbs: v s d q t x X o f e g c and %%."""
    out: list[str] = []
    i = 0
    argi = 0
    n = len(fmt)
    while i < n:
        ch = fmt[i]
        if ch != "%":
            j = fmt.find("%", i)
            j = n if j < 0 else j
            out.append(fmt[i:j])
            i = j
            continue
        i += 1
        flags = ""
        while i < n and fmt[i] in "+-# 0":
            flags += fmt[i]
            i += 1
        width = ""
        while i < n and fmt[i].isdigit():
            width += fmt[i]
            i += 1
        prec = -1
        if i < n and fmt[i] == ".":
            i += 1
            digits = ""
            while i < n and fmt[i].isdigit():
                digits += fmt[i]
                i += 1
            prec = int(digits or "0")
        if i >= n:
            out.append("%!(NOVERB)")
            break
        verb = fmt[i]
        i += 1
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        out.append(_pad(_format_one(verb, arg, flags, prec), flags, width, verb, arg))
    if argi < len(args):
        extra = ", ".join(f"{go_type_name(a)}={go_str(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(text: str, flags: str, width: str, verb: str, arg: Any) -> str:
    if not width:
        return text
    w = int(width)
    if len(text) >= w:
        return text
    if "-" in flags:
        return text.ljust(w)
    numeric = isinstance(arg, int | float) and not isinstance(arg, bool)
    if "0" in flags and numeric and verb in "dfegxXov":
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign):].rjust(w - len(sign), "0")
    return text.rjust(w)


def _bad(verb: str, arg: Any) -> str:
    return f"%!{verb}({go_type_name(arg)}={go_str(arg)})"


def _format_one(verb: str, arg: Any, flags: str, prec: int) -> str:
    if isinstance(arg, JSONNumber) and verb in "svq":
        return _format_one(verb, arg.text, flags, prec)
    is_num = isinstance(arg, int | float) and not isinstance(arg, bool)
    if verb == "v":
        if isinstance(arg, float):
            return _sign(format_float(arg), flags)
        if isinstance(arg, int) and not isinstance(arg, bool):
            return _sign(str(arg), flags)
        return go_str(arg)
    if verb == "s":
        if isinstance(arg, str):
            return arg if prec < 0 else arg[:prec]
        if isinstance(arg, list | tuple):
            return "[" + " ".join(_format_one("s", a, flags, prec) for a in arg) + "]"
        return _bad(verb, arg)
    if verb == "q":
        if isinstance(arg, str):
            return go_quote(arg)
        return _bad(verb, arg)
    if verb == "t":
        return ("true" if arg else "false") if isinstance(arg, bool) else _bad(verb, arg)
    if verb in "dxXoc":
        if not isinstance(arg, int) or isinstance(arg, bool):
            if verb in "xX" and isinstance(arg, str):
                text = arg.encode().hex()
                return text.upper() if verb == "X" else text
            return _bad(verb, arg)
        if verb == "d":
            return _sign(str(arg), flags)
        if verb == "c":
            return chr(arg)
        body = format(abs(arg), {"x": "x", "X": "X", "o": "o"}[verb])
        if "#" in flags:
            body = {"x": "0x", "X": "0X", "o": "0"}[verb] + body
        return ("-" if arg < 0 else "") + body
    if verb in "feg":
        if not is_num:
            return _bad(verb, arg)
        return _sign(format_float(float(arg), verb, prec), flags)
    return f"%!{verb}({go_type_name(arg)}={go_str(arg)})"


def _sign(text: str, flags: str) -> str:
    if "+" in flags and not text.startswith("-"):
        return "+" + text
    if " " in flags and not text.startswith("-"):
        return " " + text
    return text


class GoStruct(TemplateObject):
    """A typed Go struct seen by templates: fields by Go name, JSON by json tag, in order.

    Docker templates address struct fields by their Go names (``{{.APIVersion}}``)
    while ``{{json .}}`` uses the json tags (``"ApiVersion"``) in declaration
    order; raw dicts cannot express both, this can.
    """

    def __init__(self, go_type: str, fields: list[tuple[str, str | None, Any, bool]]) -> None:
        """``fields``: (Go name, json key or None if not marshalled, value, omitempty)."""
        self.GO_TYPE = go_type
        self._fields = fields
        self._values = {name: value for name, _, value, _ in fields}
        self.FIELDS = tuple(self._values)

    def template_field(self, name: str) -> Any:
        if name in self._values:
            value = self._values[name]
            return lambda: value
        for _, key, value, _ in self._fields:  # promoted fields of embedded structs
            if key == "" and isinstance(value, GoStruct):
                found = value.template_field(name)
                if found is not None:
                    return found
        return None

    def json_value(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for _, key, value, omitempty in self._fields:
            if key is None:
                continue
            if key == "" and isinstance(value, GoStruct):
                out.update(value.json_value())
                continue
            if omitempty and (value is None or value == "" or value == 0 or value is False
                              or value == [] or value == {}):
                continue
            out[key] = value
        return out

    def get(self, name: str) -> Any:
        return self._values.get(name)


class GoTime(TemplateObject):
    """A ``time.Time`` field: templates print Go's ``String()`` form, JSON keeps RFC 3339,
    and the common methods (``.IsZero``, ``.Unix``, ``.UnixNano``) work."""

    GO_TYPE = "time.Time"
    FIELDS = ("IsZero", "Unix", "UnixNano", "String")

    def __init__(self, rfc3339: str) -> None:
        self.text = rfc3339

    def _parts(self) -> tuple[str, str, str, str] | None:
        import re

        m = re.match(
            r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})$", self.text
        )
        if m is None:
            return None
        date, clock, frac, zone = m.groups()
        return date, clock, frac or "", zone

    def String(self) -> str:
        parts = self._parts()
        if parts is None:
            return self.text
        date, clock, frac, zone = parts
        frac = frac.rstrip("0").rstrip(".")
        if zone == "Z":
            return f"{date} {clock}{frac} +0000 UTC"
        offset = zone.replace(":", "")
        return f"{date} {clock}{frac} {offset} {offset}"

    def __str__(self) -> str:
        return self.String()

    def IsZero(self) -> bool:
        parts = self._parts()
        return parts is not None and parts[0] == "0001-01-01" and parts[1] == "00:00:00" \
            and not parts[2].strip(".0")

    def UnixNano(self) -> int:
        from datetime import datetime

        parts = self._parts()
        if parts is None:
            return 0
        date, clock, frac, zone = parts
        when = datetime.fromisoformat(f"{date}T{clock}{zone.replace('Z', '+00:00')}")
        nanos = int((frac[1:] + "000000000")[:9]) if frac else 0
        days = (when.date() - when.date().replace(year=1970, month=1, day=1)).days
        offset = when.utcoffset()
        seconds = days * 86400 + when.hour * 3600 + when.minute * 60 + when.second
        seconds -= int(offset.total_seconds()) if offset is not None else 0
        return seconds * 1_000_000_000 + nanos

    def Unix(self) -> int:
        return self.UnixNano() // 1_000_000_000


class GoUint8(int):
    """A byte, as Go's ``index`` returns for a string: only its type name differs."""
