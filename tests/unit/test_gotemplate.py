"""Go's text/template as Docker's --format uses it: each case's expected text is what Go prints."""
import pytest

from pocketbox.text.gotemplate import TemplateError, render, tabulate

DATA = {"Name": "/web", "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "b"}, "Cmd": ["sleep", "1000"]},
        "State": {"Status": "running", "ExitCode": 0}, "Mounts": [{"Source": "/x", "Destination": "/y"}],
        "N": None, "E": [], "Label": lambda key: {"k": "v"}.get(key, "")}


@pytest.mark.parametrize("template, expected", [
    ("{{.Name}}", "/web"),
    ("{{json .Config.Labels}}", '{"a":"b","k":"v"}'),  # a map: keys sorted, as json.Marshal does
    ('{{json .State}}', '{"Status":"running","ExitCode":0}'),  # a struct: field order kept
    ("{{.Config.Cmd}}", "[sleep 1000]"),
    ('{{join .Config.Cmd " "}}', "sleep 1000"),
    ("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", "/x:/y "),
    ('{{index .Config.Labels "k"}}', "v"),
    ('{{if eq .State.Status "running"}}up{{else if eq .State.Status "exited"}}down{{else}}?{{end}}', "up"),
    ('{{if eq .State.Status "x"}}up{{else if eq .State.Status "running"}}down{{else}}?{{end}}', "down"),
    ("{{range $i, $e := .Config.Env}}{{$i}}={{$e}};{{end}}", "0=A=1;1=B=2;"),
    ("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}", "a=b,k=v,"),
    ("{{len .Config.Env}} {{upper .Name}} {{.Name | upper}} {{lower \"AB\"}} {{title \"ab\"}}", "2 /WEB /WEB ab Ab"),
    ('{{split "a,b" ","}}', "[a b]"),
    ("{{println .Name}}x", "/web\nx"),
    ("{{.N}} {{.E}} {{.Config.Labels.nope}}|{{index .Config.Labels \"nope\"}}|", "<nil> [] <no value>||"),
    ("{{range .E}}x{{else}}empty{{end}}", "empty"),
    ("{{with .Config}}{{.Cmd}}{{end}}{{with .E}}no{{else}}-{{end}}", "[sleep 1000]-"),
    ("a {{- .Name -}} b", "a/webb"),
    ("{{(index .Mounts 0).Source}}", "/x"),
    ("{{$x := .Name}}{{$x}} {{$.Name}}", "/web /web"),
    ("{{and .Name .N}}|{{or .N .Name}}|{{not .E}}", "<nil>|/web|true"),
    ('{{printf "%s-%d" .Name 3}}', "/web-3"),
    ('{{.Label "k"}}|{{.Label "nope"}}', "v|"),
    ("{{truncate .Name 2}}|{{pad .Name 1 2}}|", "/w| /web  |"),
    ("{{/* a comment */}}ok", "ok"),
])
def test_go_semantics(template, expected):
    assert render(template, DATA) == expected


@pytest.mark.parametrize("template, message", [
    ("{{.Name", "unclosed action"),
    ("{{foo .X}}", 'function "foo" not defined'),
    ("{{if .X}}", "missing {{end}}"),
    ("{{end}}", "unexpected {{end}}"),
    ("{{index .Config.Cmd 5}}", "index out of range"),
    ("{{.Name.X}}", "can't evaluate field X"),
    ("{{.N.X}}", "nil pointer"),
    ("{{.Missing}}", 'map has no entry for key "Missing"'),
    ("{{.State.Nope}}", 'map has no entry for key "Nope"'),
])
def test_errors_are_one_line(template, message):
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("}", r"\}")):
        render(template, DATA)


def test_tabwriter_as_docker_sets_it_up():
    assert tabulate(["CONTAINER ID\tNAMES", "abc\tx"]) == "CONTAINER ID   NAMES\nabc            x"
    assert tabulate(["A\tB\tC", "longer one\t\tz"]) == "A" + " " * 12 + "B" + " " * 9 + "C\nlonger one" + " " * 13 + "z"
