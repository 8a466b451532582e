"""The Go template engine on its own: language, functions, printing, errors.

Expected outputs are what Go's text/template (with Docker's functions)
produces; ``test_template_oracle.py`` checks many of the same against the
docker CLI itself.
"""

from __future__ import annotations

import pytest

from ketch.cli.goprint import GoStringList, GoStruct, JSONNumber, NilList, NilMap, loads_raw
from ketch.cli.gotemplate import HEADER_FUNCS, TemplateError, parse

DATA = {
    "Name": "web",
    "Tags": GoStringList(["a:1", "b:2"]),
    "Raw": ["x", 1, None],
    "Labels": {"b": "2", "a": "1"},
    "Nested": {"Inner": {"Value": 42}},
    "Size": 1982291,
    "Ratio": 0.5,
    "Big": 1234567.0,
    "Empty": "",
    "Zero": 0,
    "Nil": None,
    "NilList": NilList(),
    "NilMap": NilMap(),
    "Flag": True,
}


def render(text: str, data: object = DATA, **kw: object) -> str:
    return parse(text).execute(data, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "out"), [
    ("plain", "plain"),
    ("{{.Name}}", "web"),
    ("{{.Nested.Inner.Value}}", "42"),
    ("{{.}}", None),
    ("{{.Tags}}", "[a:1 b:2]"),
    ("{{.Raw}}", "[x 1 <nil>]"),
    ("{{.Labels}}", "map[a:1 b:2]"),
    ("{{.Nested}}", "map[Inner:map[Value:42]]"),
    ("{{.Ratio}} {{.Big}} {{.Size}}", "0.5 1.234567e+06 1982291"),
    # A nil interface{} out of a map is "no value" to Go's pipeline (docker prints
    # this for JSON nulls when it falls back to the raw inspect data).
    ("{{.Nil}}", "<no value>"),
    ("{{printf \"%v\" .Nil}}", "<nil>"),
    ("{{.NilList}} {{.NilMap}}", "[] map[]"),
    ("{{json .NilList}} {{json .NilMap}}", "null null"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Missing.Deeper}}", "<no value>"),
    ("{{.Flag}}", "true"),
    ("a  {{- .Name -}}  b", "awebb"),
    ("a {{- /* comment */ -}} b", "ab"),
    ("{{/* comment */}}x", "x"),
    ("{{\"  x  \"}}", "  x  "),
    ("{{`raw\\n`}}", "raw\\n"),
    ("{{'a'}} {{1.5}} {{-2}} {{0x1F}} {{true}}", "97 1.5 -2 31 true"),
    ("{{.Name | upper | printf \"<%s>\"}}", "<WEB>"),
    ("{{(index .Tags 1) | len}}", "3"),
    ("{{$n := .Name}}{{$n}}{{$n = \"x\"}}{{$n}}", "webx"),
    ("{{$.Name}}", "web"),
    ("{{range .Tags}}[{{.}}]{{end}}", "[a:1][b:2]"),
    ("{{range $i, $t := .Tags}}{{$i}}={{$t}};{{end}}", "0=a:1;1=b:2;"),
    ("{{range $k, $v := .Labels}}{{$k}}{{$v}}{{end}}", "a1b2"),
    ("{{range .NilList}}x{{else}}empty{{end}}", "empty"),
    ("{{range .Tags}}{{if eq . \"b:2\"}}{{break}}{{end}}{{.}}{{end}}", "a:1"),
    ("{{range .Tags}}{{if eq . \"a:1\"}}{{continue}}{{end}}{{.}}{{end}}", "b:2"),
    ("{{if .Empty}}a{{else if .Zero}}b{{else if .Name}}c{{else}}d{{end}}", "c"),
    ("{{with .Nested.Inner}}{{.Value}}{{end}}", "42"),
    ("{{with .Empty}}x{{else}}none{{end}}", "none"),
    ("{{and .Name .Zero}} {{or .Empty .Name}} {{not .Flag}}", "0 web false"),
    ("{{eq .Name \"web\"}} {{ne .Size 1}} {{eq .Name \"x\" \"web\"}}", "true true true"),
    ("{{lt 1 2}} {{le 2 2}} {{gt 1.5 2.5}} {{ge \"b\" \"a\"}}", "true true false true"),
    ("{{eq .Nil nil}}", "true"),
    ("{{len .Tags}} {{len .Labels}} {{len .Name}}", "2 2 3"),
    ("{{index .Labels \"a\"}} {{index .Raw 1}}", "1 1"),
    ("{{slice .Name 1}} {{slice .Tags 0 1}}", "eb [a:1]"),
    ("{{json .Labels}} {{json .Name}} {{json .Raw}}", '{"b":"2","a":"1"} "web" ["x",1,null]'),
    ("{{json \"<&>\"}}", '"<&>"'),
    ("{{join .Tags \", \"}}", "a:1, b:2"),
    ("{{split \"a,b,,c\" \",\"}}", "[a b  c]"),
    ("{{title \"hello wide-world x_y\"}}", "Hello Wide-World X_y"),
    ("{{lower \"ABC\"}} {{upper .Name}}", "abc WEB"),
    ("{{pad .Name 1 2}}|{{pad \"\" 3 3}}|", " web  ||"),
    ("{{truncate .Name 2}} {{truncate .Name 10}}", "we web"),
    ("{{print 1 2 \"a\" \"b\" 3}}", "1 2ab3"),
    ("{{println .Name 1}}", "web 1\n"),
    ("{{printf \"%d|%5d|%-5d|%05d|%x|%X|%o|%c\" 42 42 42 42 255 255 8 65}}",
     "42|   42|42   |00042|ff|FF|10|A"),
    ("{{printf \"%s|%q|%v|%t|%10s|%-4s|%.2s\" .Name .Name .Tags .Flag .Name \"a\" .Name}}",
     'web|"web"|[a:1 b:2]|true|       web|a   |we'),
    ("{{printf \"%f|%.2f|%e|%g|%v\" 3.5 3.14159 12345.678 0.000012 2.5}}",
     "3.500000|3.14|1.234568e+04|1.2e-05|2.5"),
    ("{{printf \"%s %d\" 1 \"x\"}}", "%!s(int=1) %!d(string=x)"),
    ("{{printf \"%s %s\" \"a\"}}", "a %!s(MISSING)"),
    ("{{printf \"x\" 1}}", "x%!(EXTRA int=1)"),
    ("{{printf \"%%\"}}", "%"),
    ("{{html \"<a href='x'>&</a>\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
    ("{{urlquery \"a b&c\"}}", "a+b%26c"),
])
def test_renders_like_go(text: str, out: str | None) -> None:
    if out is None:
        assert render(text).startswith("map[")
    else:
        assert render(text) == out


@pytest.mark.parametrize(("text", "error"), [
    ("{{", "template: :1: unclosed action"),
    ("{{.Name", "template: :1: unclosed action"),
    ("{{.Name}", "template: :1: bad character U+007D '}'"),
    ("{{nosuch}}", 'template: :1: function "nosuch" not defined'),
    ("{{end}}", "template: :1: unexpected {{end}}"),
    ("{{else}}", "template: :1: unexpected {{else}}"),
    ("{{if .Name}}", "template: :1: unexpected EOF"),
    ("{{}}", "template: :1: missing value for command"),
    ("{{range}}{{end}}", "template: :1: missing value for range"),
    ("{{$x}}", 'template: :1: undefined variable "$x"'),
    ("{{\"abc}}", "template: :1: unterminated quoted string"),
    ("{{(.Name}}", "template: :1: unclosed left paren"),
    ("{{.Name)}}", "template: :1: unexpected right paren"),
    ("{{break}}", "template: :1: {{break}} outside {{range}}"),
    ("{{.Name | \"x\"}}", "template: :1: non executable command in pipeline stage 2"),
    ("{{/* open", "template: :1: unclosed comment"),
    ("a\nb\n{{.X", "template: :3: unclosed action"),
    ("{{.A #}}", "template: :1: unexpected \"#\" in operand"),
])
def test_parse_errors(text: str, error: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(text)
    assert str(info.value) == error


@pytest.mark.parametrize(("text", "error"), [
    ("{{.Name.Field}}", 'template: :1:7: executing "" at <.Name.Field>: '
                        "can't evaluate field Field in type interface {}"),
    ("{{index .Tags 5}}", 'template: :1:2: executing "" at <index .Tags 5>: '
                          "error calling index: index out of range: 5"),
    ("{{len .Size}}", 'template: :1:2: executing "" at <len .Size>: '
                      "error calling len: len of type int"),
    ("{{upper .Size}}", 'template: :1:8: executing "" at <.Size>: '
                        "wrong type for value; expected string; got int"),
    ("{{.Size | upper}}", 'template: :1:10: executing "" at <upper>: '
                          "wrong type for value; expected string; got int"),
    ("{{join .Raw \",\"}}", 'template: :1:7: executing "" at <.Raw>: '
                            "wrong type for value; expected []string; got []interface {}"),
    ("{{json}}", 'template: :1:2: executing "" at <json>: '
                 "wrong number of args for json: want 1 got 0"),
    ("{{.Name 1}}", 'template: :1:2: executing "" at <.Name>: '
                    "Name is not a method but has arguments"),
    ("{{1 2}}", 'template: :1:2: executing "" at <1>: can\'t give argument to non-function 1'),
    ("{{eq .Name 1}}", 'template: :1:2: executing "" at <eq .Name 1>: '
                       "error calling eq: incompatible types for comparison"),
    ("{{range .Name}}{{end}}", 'template: :1:8: executing "" at <.Name>: '
                               "range can't iterate over web"),
    ("{{template \"x\"}}", 'template: :1:11: executing "" at <{{template "x"}}>: '
                           'template "x" not defined'),
    ("x\n  {{.Nil.Field}}", 'template: :2:8: executing "" at <.Nil.Field>: '
                            "nil pointer evaluating interface {}.Field"),
])
def test_execution_errors(text: str, error: str) -> None:
    with pytest.raises(TemplateError) as info:
        render(text)
    assert str(info.value) == error


def test_missingkey_error_option() -> None:
    with pytest.raises(TemplateError, match='map has no entry for key "Nope"'):
        render("{{.Nope}}", missingkey_error=True)
    assert render("{{.Nope}}") == "<no value>"


def test_partial_output_is_kept_on_error() -> None:
    with pytest.raises(TemplateError) as info:
        render("before {{.Name.X}} after")
    assert info.value.partial == "before "  # type: ignore[attr-defined]


def test_header_functions_leave_titles_alone() -> None:
    tmpl = parse("{{upper .Name}}\t{{json .Size}}\t{{truncate .Name 1}}")
    assert tmpl.execute({"Name": "NAME", "Size": "SIZE"}, funcs=HEADER_FUNCS) == "NAME\tSIZE\tNAME"


def test_raw_json_numbers_behave_like_json_number() -> None:
    doc = loads_raw('{"Size": 1982291, "F": 2.50}')
    assert isinstance(doc["Size"], JSONNumber)
    assert render("{{.Size}} {{.F}} {{len .Size}} {{json .}}", doc) == \
        '1982291 2.50 7 {"F":2.5,"Size":1982291}'  # a Go map: keys sorted
    with pytest.raises(TemplateError, match=r"expected string; got json\.Number"):
        render("{{upper .Size}}", doc)
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        render("{{eq .Size 1982291}}", doc)
    assert render('{{eq .Size "1982291"}}', doc) == "true"


def test_go_structs_use_go_names_and_json_tags() -> None:
    inner = GoStruct("v1.Inner", [("Cmd", "Cmd", GoStringList(["sh"]), True),
                                  ("User", "User", "", True)])
    outer = GoStruct("x.Outer", [("APIVersion", "ApiVersion", "1.41", False),
                                 ("Embedded", "", inner, False),
                                 ("Ptr", "Ptr", None, True)])
    assert render("{{.APIVersion}} {{.Cmd}} {{.Embedded.Cmd}}", outer) == "1.41 [sh] [sh]"
    assert render("{{json .}}", outer) == '{"ApiVersion":"1.41","Cmd":["sh"]}'
    assert render("{{.Embedded}}", outer) == "{[sh] }"
    with pytest.raises(TemplateError, match=r"can.t evaluate field ApiVersion in type x\.Outer"):
        render("{{.ApiVersion}}", outer)
