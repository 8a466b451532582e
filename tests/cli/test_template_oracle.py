"""The Go template engine, checked against Go's own: Docker CLI 28 evaluates each
template over an image's inspect data, ``ketch`` does the same, outputs and
errors must be equal."""

from __future__ import annotations

import pytest

from .runner import Runner, assert_same

TEMPLATES = [
    # text, fields, chains, dot
    "plain text",
    "{{.Id}}",
    "{{.Config.WorkingDir}}|{{.Config.User}}|",
    "{{.RootFS.Type}} {{.GraphDriver.Name}}",
    "{{.RepoTags}}",
    "{{.RootFS}}",
    # trimming and comments
    "a  {{- .Os -}}  b",
    "{{- /* a comment */ -}} x",
    "x{{/* c */}}y",
    # pipelines and parentheses
    "{{.Os | upper | lower}}",
    "{{(index .RepoTags 0)}}",
    "{{index .RepoTags 0 | len}}",
    "{{(index .Config.Cmd 1) | printf \"<%s>\"}}",
    "{{len (index .Config.Labels \"org.example.a\")}}",
    # variables
    "{{$os := .Os}}{{$os}}-{{$.Architecture}}",
    "{{$x := 1}}{{$x = 2}}{{$x}}",
    "{{range $i, $t := .RepoTags}}{{$i}}:{{$t}} {{end}}",
    "{{range $t := .RepoTags}}[{{$t}}]{{end}}",
    "{{with $c := .Config}}{{$c.Cmd}}{{end}}",
    # control flow
    "{{if .Config.Labels}}yes{{else}}no{{end}}",
    "{{if not .Config.Labels}}none{{else if .Config.Env}}env{{else}}x{{end}}",
    "{{if and .Os .Architecture}}both{{end}}|{{if or .Parent .Os}}one{{end}}",
    "{{range .Config.Entrypoint}}x{{else}}empty{{end}}",
    "{{with .Parent}}has parent{{else}}no parent{{end}}",
    "{{range .RootFS.Layers}}{{if eq . \"x\"}}{{break}}{{end}}{{len .}} {{end}}",
    "{{range $i, $e := .Config.Env}}{{if eq $i 0}}{{continue}}{{end}}{{$e}}{{end}}",
    # comparisons
    "{{eq .Os \"linux\"}} {{ne .Os \"linux\"}} {{eq .Os \"x\" \"linux\"}}",
    "{{lt 1 2}} {{le 2 2}} {{gt 1.5 2.5}} {{ge \"b\" \"a\"}}",
    "{{eq .Size 0}} {{gt .Size 1000}}",
    "{{eq 1 \"a\"}}",
    "{{lt .Config.Cmd 1}}",
    # functions
    "{{json .Config.Cmd}} {{json .Os}} {{json .Config.Labels}}",
    "{{join .Config.Cmd \" \"}}",
    "{{split \"a:b:c\" \":\"}} {{len (split .Id \":\")}}",
    "{{title \"hello wide-world_x\"}} {{upper .Os}}",
    "{{pad .Os 2 3}}|{{pad \"\" 1 1}}|",
    "{{truncate .Id 10}} {{truncate .Os 100}}",
    "{{printf \"%d %5d %-5d| %x %X %o %q %v %t\" 42 42 42 255 255 8 \"q\" .Config.Cmd true}}",
    "{{printf \"%s %10s|%-10s|%.2s\" .Os .Os .Os .Os}}",
    "{{printf \"%f %.2f %e %g %v\" 3.5 3.14159 12345.678 0.000012 2.5}}",
    "{{printf \"%s\" 1}} {{printf \"%d\" \"x\"}} {{printf \"%s\"}} {{printf \"x\" 1}}",
    "{{print 1 2 \"a\" \"b\" 3}} {{println .Os 1}}",
    "{{index .Config.Labels \"org.example.b\"}}",
    "{{index .Config.Labels \"missing\"}}",
    "{{len .Config.Labels}} {{len .Os}} {{len .RootFS.Layers}}",
    "{{slice .Os 1 3}} {{slice .RepoTags 1}}",
    "{{html \"<a&b>\"}} {{js \"it's\"}} {{urlquery \"a b&c\"}}",
    # literals
    "{{1}} {{1.5}} {{-2}} {{0x1F}} {{'a'}} {{true}} {{\"s\\tt\"}} {{`raw\\n`}}",
    "{{nil | print}}",
    # errors: parse
    "{{.Os",
    "{{.Os}",
    "{{end}}",
    "{{if .Os}}",
    "{{else}}",
    "{{range}}{{end}}",
    "{{nosuch}}",
    "{{$undefined}}",
    "{{.Os | }}",
    "{{\"unterminated}}",
    "{{(.Os}}",
    "{{.Os)}}",
    "{{break}}",
    "{{}}",
    # errors: execution
    "{{.NoSuchField}}",
    "{{.Config.NoSuch.Deeper}}",
    "{{.Os.Field}}",
    "{{index .RepoTags 99}}",
    "{{index .Os 1 2}}",
    "{{len .Size}}",
    "{{upper .Size}}",
    "{{join .Os \",\"}}",
    "{{.Os 1}}",
    "{{1 2}}",
    "{{json}}",
    "{{range .Os}}{{end}}",
    "{{template \"x\"}}",
]


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_matches_go(runner: Runner, template: str) -> None:
    assert_same(*runner.both("image", "inspect", "--format", template, "ketchtest/multi"))
