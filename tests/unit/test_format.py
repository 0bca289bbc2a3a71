from pocketbox.text.format import human_duration, human_size, parse_time, table


def test_human_size_like_docker():
    assert human_size(0) == "0B"
    assert human_size(1980000) == "1.98MB"
    assert human_size(124_000_000) == "124MB"
    assert human_size(74_800_000) == "74.8MB"
    assert human_size(1_230_000_000) == "1.23GB"


def test_human_duration_like_docker():
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(5) == "5 seconds"
    assert human_duration(90) == "About a minute"
    assert human_duration(600) == "10 minutes"
    assert human_duration(3700) == "About an hour"
    assert human_duration(5 * 3600) == "5 hours"
    assert human_duration(3 * 86400) == "3 days"
    assert human_duration(21 * 86400) == "3 weeks"
    assert human_duration(100 * 86400) == "3 months"
    assert human_duration(800 * 86400) == "2 years"


def test_times_and_tables():
    assert parse_time("2023-11-14T22:13:20Z") == 1700000000
    assert parse_time("2023-11-14T22:13:20.123456789Z") == 1700000000.123456
    assert parse_time("garbage") is None
    assert table(["A", "LONGER"], [["xx", "y"]]) == "A         LONGER\nxx        y"  # tabwriter's minimum 10


def test_inspect_templates():
    from pocketbox.text.format import render_template

    rec = {"Name": "/web", "State": {"Running": True, "Pid": 42}, "NetworkSettings": {"IPAddress": "172.17.0.2",
           "Ports": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}}, "Config": {"Labels": {"a.b": "x"}}}
    assert render_template("{{.NetworkSettings.IPAddress}}", rec) == "172.17.0.2"
    assert render_template("{{ .State.Running }} {{.State.Pid}}", rec) == "true 42"
    assert render_template("{{json .NetworkSettings.Ports}}", rec) == '{"80/tcp":[{"HostIp":"","HostPort":"8080"}]}'
    assert render_template('{{index .Config.Labels "a.b"}}', rec) == "x"
    import pytest

    from pocketbox.errors import PocketboxError

    with pytest.raises(PocketboxError, match="missing {{end}}"):
        render_template("{{range .Mounts}}", rec)


def test_templates_print_lists_and_maps_as_go_does():
    from pocketbox.text.format import render_template

    rec = {"Args": ["sleep", "1000"], "Empty": [], "Labels": {"b": "2", "a": "1"}, "None": {}}
    assert render_template("{{.Args}} {{.Empty}} {{.Labels}} {{.None}}", rec) == "[sleep 1000] [] map[a:1 b:2] map[]"
