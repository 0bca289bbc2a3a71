"""The commands and run flags a Docker user reaches for after the first hour: events, health checks,
log rotation, --init, stats, top, update, cp (and cp against a hostile container), namespaces
shared with another container. Docker's outputs for the same lines are compared in
tests/differential; these check what only pocketbox's side can show (cgroup files, the host)."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import pocketbox_argv, requires_root
from test_detached import inspect, state, until

pytestmark = requires_root


def test_events_are_logged_and_followed(pb, busybox):
    pb("run", "--rm", "--network", "none", "--name", "ev1", "--label", "team=a", busybox, "sh", "-c", "exit 2", expect=2)
    out = pb("events", "--since", "1m", "--until", "0s", "-f", "container=ev1").stdout.splitlines()
    actions = [line.split()[2] for line in out]
    assert actions == ["create", "start", "die", "destroy"], out
    assert "exitCode=2" in out[2] and "team=a" in out[2] and "name=ev1" in out[2]
    as_json = [json.loads(line) for line in pb("events", "--since", "1m", "--until", "0s", "-f", "event=die",
                                               "--format", "json").stdout.splitlines()]
    assert as_json and all(e["Action"] == "die" and e["Type"] == "container" for e in as_json)
    follower = pb.popen("events", "-f", "type=volume", stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        pb("volume", "create", "evvol")
        line = follower.stdout.readline()
        assert " volume create evvol" in line, line
    finally:
        follower.kill()
        follower.wait()


def test_health_check_states_and_log(pb, busybox):
    pb("run", "-d", "--name", "hc", "--network", "none", "--health-cmd", "test -f /ok", "--health-interval", "200ms",
       "--health-retries", "2", busybox, "sh", "-c", "sleep 1.5; touch /ok; sleep 60")
    assert state(pb, "hc")["Health"]["Status"] == "starting"
    until(lambda: state(pb, "hc")["Health"]["Status"] == "unhealthy")
    assert "(unhealthy)" in pb("ps", "--format", "{{.Status}}").stdout
    until(lambda: state(pb, "hc")["Health"]["Status"] == "healthy")
    health = state(pb, "hc")["Health"]
    assert health["FailingStreak"] == 0 and len(health["Log"]) <= 5 and health["Log"][-1]["ExitCode"] == 0
    changes = pb("events", "--since", "0", "--until", str(int(time.time()) + 1), "-f", "container=hc",
                 "--format", "{{.Action}}").stdout.splitlines()
    assert [a for a in changes if a.startswith("health_status")] == ["health_status: unhealthy",
                                                                       "health_status: healthy"]
    pb("stop", "-t", "1", "hc")
    time.sleep(0.5)
    watchers = subprocess.run(["pgrep", "-f", f"pocketbox.engine.health {inspect(pb, 'hc')['Id']}"],
                              capture_output=True, text=True).stdout
    assert watchers == "", "the health watcher outlived its container"


def test_health_check_timeout_is_reported(pb, busybox):
    pb("run", "-d", "--name", "slow", "--network", "none", "--health-cmd", "sleep 5", "--health-interval", "200ms",
       "--health-timeout", "300ms", busybox, "sleep", "60")
    until(lambda: (state(pb, "slow")["Health"]["Log"] or [{}])[-1].get("ExitCode") == -1)
    assert "exceeded timeout" in state(pb, "slow")["Health"]["Log"][-1]["Output"]
    pb("rm", "-f", "slow")


def test_json_file_rotation_and_none(pb, busybox):
    script = "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done"
    pb("run", "-d", "--name", "rot", "--network", "none", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
       busybox, "sh", "-c", script)
    pb("wait", "rot")
    path = inspect(pb, "rot")["LogPath"]
    files = sorted(p for p in os.listdir(os.path.dirname(path)) if p.startswith(os.path.basename(path)))
    assert len(files) == 3 and all(os.path.getsize(os.path.join(os.path.dirname(path), f)) <= 1024 for f in files)
    lines = pb("logs", "rot").stdout.splitlines()
    assert lines[-1] == "line 199" and lines == [f"line {i}" for i in range(200 - len(lines), 200)]
    out = pb("run", "--name", "fg", "--network", "none", "--log-opt", "max-size=1k", busybox, "sh", "-c", script)
    assert out.stdout.splitlines()[-1] == "line 199"  # the terminal gets everything; the log is cut
    assert pb("logs", "fg").stdout.splitlines()[-1] == "line 199"
    pb("run", "--name", "quiet", "--network", "none", "--log-driver", "none", busybox, "echo", "hi")
    assert not os.path.exists(inspect(pb, "quiet")["LogPath"])
    r = pb("logs", "quiet", expect=1)
    assert "does not support reading" in r.stderr


def test_init_reaps_and_forwards_signals(pb, busybox):
    pb("run", "-d", "--name", "withinit", "--init", "--network", "none", busybox, "sh", "-c",
       "sh -c 'sleep 60 & exit 0'; sleep 60")
    procs = pb("exec", "withinit", "ps", "-o", "pid,stat,comm").stdout
    assert " Z " not in procs, procs  # the orphaned background sleep was adopted and nothing is a zombie
    started = time.monotonic()
    pb("stop", "withinit")  # sh as a child of the init dies of SIGTERM: no 10-second wait
    assert time.monotonic() - started < 5
    assert state(pb, "withinit")["ExitCode"] == 143


def test_sig_proxy_false_leaves_the_container_running(pb, busybox):
    proc = pb.popen("run", "--name", "noproxy", "--sig-proxy=false", "--network", "none", busybox, "sleep", "60")
    until(lambda: pb("ps", "-q", "-f", "name=noproxy").stdout.strip() != "")
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=10)
    time.sleep(0.3)
    assert state(pb, "noproxy")["Status"] == "running"
    pb("rm", "-f", "noproxy")


def test_stats_top_and_update_read_and_write_the_cgroup(pb, busybox):
    cid = pb("run", "-d", "--name", "busy", "--network", "none", "-m", "64m", busybox, "sh", "-c",
             "while :; do :; done").stdout.strip()
    row = pb("stats", "--no-stream", "--format", "{{json .}}", "busy").stdout
    data = json.loads(row)
    assert float(data["CPUPerc"].rstrip("%")) > 20, data
    assert data["MemUsage"].endswith("/ 64MiB") and data["PIDs"] == "1"
    top = pb("top", "busy").stdout.splitlines()
    assert top[0].split()[:3] == ["UID", "PID", "PPID"] and len(top) == 2 and "while" in top[1]
    assert pb("top", "busy", "-o", "pid,comm").stdout.split()[:2] == ["PID", "COMMAND"]
    pb("update", "--memory", "96m", "--memory-swap", "-1", "--cpus", "0.5", "--pids-limit", "20", "busy")
    rec = inspect(pb, "busy")
    assert (rec["HostConfig"]["Memory"], rec["HostConfig"]["NanoCpus"], rec["HostConfig"]["PidsLimit"]) == \
        (96 << 20, 500_000_000, 20)
    paths = rec["Cgroup"]["Paths"]
    if "unified" in paths and rec["Cgroup"]["Version"] == "2":
        with open(f"{paths['unified']}/memory.max") as f:
            assert int(f.read()) == 96 << 20
    else:
        memory = next(p for k, p in paths.items() if "memory" in k.split(","))
        with open(f"{memory}/memory.limit_in_bytes") as f:
            assert int(f.read()) == 96 << 20
        pids = next(p for k, p in paths.items() if "pids" in k.split(","))
        with open(f"{pids}/pids.max") as f:
            assert f.read().strip() == "20"
    spec = json.load(open(os.path.join(rec["BundlePath"], "config.json")))
    assert spec["linux"]["resources"]["pids"] == {"limit": 20}
    # the device rules stay what they were (a v1 update once denied every device)
    assert pb("exec", "busy", "sh", "-c", "echo x > /dev/null && echo ok").stdout == "ok\n"
    pb("rm", "-f", cid)


def test_cp_never_writes_outside_the_destination(pb, busybox, tmp_path):
    """A container that plants links (to / and to host paths) gets them copied as links, never followed
    on the host; copying into a link it planted stays inside the container."""
    pb("run", "-d", "--name", "evil", "--network", "none", busybox, "sh", "-c",
       "mkdir -p /out && ln -s / /out/root && ln -s /etc /out/etc && echo x > /out/file && sleep 60")
    time.sleep(0.5)
    pb("cp", "evil:/out", str(tmp_path / "got"))
    assert os.readlink(tmp_path / "got" / "root") == "/" and os.readlink(tmp_path / "got" / "etc") == "/etc"
    marker = tmp_path / "marker"
    marker.write_text("host file\n")
    pb("cp", str(marker), "evil:/out/etc/")  # /out/etc is the container's /etc, not the host's
    assert pb("exec", "evil", "cat", "/etc/marker").stdout == "host file\n"
    assert not os.path.exists("/etc/marker")
    # a tar that climbs out with .. is refused
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("../../escaped")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    r = subprocess.run(pocketbox_argv() + ["cp", "-", "evil:/out"], input=buf.getvalue(), capture_output=True,
                       env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    assert r.returncode != 0 and b".." in r.stderr
    pb("rm", "-f", "evil")


def test_cp_with_a_stopped_container_and_ownership(pb, busybox, tmp_path):
    pb("create", "--name", "asleep", "--network", "none", "-v", "cpvol:/vol", busybox, "true")
    (tmp_path / "f").write_text("data\n")
    os.chown(tmp_path / "f", 1234, 1234)
    pb("cp", str(tmp_path / "f"), "asleep:/vol/")
    pb("cp", "-a", str(tmp_path / "f"), "asleep:/kept")
    pb("cp", "asleep:/vol/f", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "data\n"
    out = pb("run", "--rm", "--network", "none", "--volumes-from", "asleep", busybox, "stat", "-c", "%u", "/vol/f")
    assert out.stdout.strip() == "0"  # owned by the container's root unless -a
    pb("start", "-a", "asleep")
    pb("cp", "asleep:/kept", str(tmp_path / "kept"))
    assert (tmp_path / "kept").read_text() == "data\n"


def test_pid_and_ipc_of_another_container(pb, busybox):
    pb("run", "-d", "--name", "first", "--network", "none", "--ipc", "shareable", busybox, "sleep", "60")
    ps = pb("run", "--rm", "--network", "none", "--pid", "container:first", busybox, "ps", "-o", "comm").stdout
    assert "sleep" in ps.split()
    ours = pb("run", "--rm", "--network", "none", "--ipc", "container:first", busybox, "readlink",
              "/proc/self/ns/ipc").stdout
    theirs = pb("exec", "first", "readlink", "/proc/self/ns/ipc").stdout
    assert ours == theirs
    pb("rm", "-f", "first")
    r = pb("run", "--rm", "--network", "none", "--pid", "container:first", busybox, "true", expect=125)
    assert "No such container" in r.stderr


def test_static_ip_dns_search_and_hosts(pb, busybox):
    pb("network", "create", "--subnet", "10.231.7.0/24", "ipnet")
    out = pb("run", "--rm", "--network", "ipnet", "--ip", "10.231.7.77", "--dns-search", "example.org",
             "--dns-option", "ndots:3", "--add-host", "db:10.231.7.5", busybox, "sh", "-c",
             "ip -4 addr show eth0 | grep -o '10.231.7.77'; grep -E 'search|options' /etc/resolv.conf; "
             "grep -w db /etc/hosts").stdout.splitlines()
    assert out == ["10.231.7.77", "search example.org", "options ndots:3", "10.231.7.5\tdb"]
    r = pb("run", "--rm", "--ip", "10.231.7.7", busybox, "true", expect=125)
    assert "user defined networks only" in r.stderr
    r = pb("run", "--rm", "--network", "ipnet", "--ip", "10.9.9.9", busybox, "true", expect=125)
    assert "does not belong" in r.stderr
    pb("network", "rm", "ipnet")


@pytest.mark.parametrize("keys, expected", [(None, b"\x10\x11"), ("ctrl-a,x", b"\x01x"), ("ctrl-@,ctrl-_", b"\x00\x1f")])
def test_detach_keys(keys, expected):
    from pocketbox.attach import parse_detach_keys

    assert parse_detach_keys(keys) == expected


def test_ps_size_and_last(pb, busybox):
    pb("run", "--name", "sized", "--network", "none", busybox, "sh", "-c", "head -c 5000 /dev/zero > /blob")
    out = pb("ps", "-a", "-s", "--format", "{{.Names}} {{.Size}}").stdout.strip()
    assert out.startswith("sized 5kB (virtual "), out
    assert pb("ps", "-l", "--format", "{{.Names}}").stdout.strip() == "sized"
