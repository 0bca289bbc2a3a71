"""docker-compose (Debian's 1.29.2) on pocketbox, through `pocketbox compose` and the Engine API: a
three-service application (a web front, an app, a key-value store; busybox httpd and CGI
scripts), in the suite's own network namespace."""
import shutil
import time
import urllib.request

import pytest

from conftest import requires_root

pytestmark = [requires_root, pytest.mark.skipif(not shutil.which("docker-compose"),
                                                reason="docker-compose is missing: scripts/test.sh installs it")]
PORT = 18480

COMPOSE = """\
version: "2.4"
services:
  store:
    image: {image}
    command: ["busybox", "httpd", "-f", "-p", "80", "-h", "/srv"]
    volumes:
      - data:/data
      - ./store:/srv/cgi-bin:ro
    healthcheck:
      test: {check}
      interval: 1s
      retries: {retries}
  app:
    image: {image}
    command: ["busybox", "httpd", "-f", "-p", "80", "-h", "/srv"]
    volumes:
      - ./app:/srv/cgi-bin:ro
    labels:
      course.tier: app
    depends_on:
      store:
        condition: service_healthy
  front:
    image: {image}
    command: ["busybox", "httpd", "-f", "-p", "80", "-h", "/srv"]
    volumes:
      - ./front:/srv/cgi-bin:ro
    ports:
      - "127.0.0.1:{port}:80"
    depends_on:
      - app
volumes:
  data:
"""
SCRIPTS = {
    "store/kv": """#!/bin/sh
echo "Content-Type: text/plain"; echo
case "$QUERY_STRING" in
  health) echo ok ;;
  set=*) echo "${{QUERY_STRING#set=}}" > /data/value; echo stored ;;
  *) cat /data/value 2>/dev/null || echo empty ;;
esac
""",
    "app/api": """#!/bin/sh
echo "Content-Type: text/plain"; echo
echo "app sees: $(wget -q -O - "http://store/cgi-bin/kv?$QUERY_STRING")"
""",
    "front/index": """#!/bin/sh
echo "Content-Type: text/plain"; echo
wget -q -O - "http://app/cgi-bin/api?$QUERY_STRING"
""",
}


def project(tmp_path, image, healthy=True):
    d = tmp_path / ("course" if healthy else "broken")
    for name, text in SCRIPTS.items():
        path = d / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{{", "{").replace("}}", "}"))
        path.chmod(0o755)
    check = '["CMD", "wget", "-q", "-O", "-", "http://localhost/cgi-bin/kv?health"]' if healthy else \
        '["CMD-SHELL", "echo failing; exit 1"]'
    (d / "docker-compose.yml").write_text(COMPOSE.format(image=image, port=PORT, retries=5 if healthy else 1,
                                                         check=check))
    return d


def ask(query: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/cgi-bin/index?{query}", timeout=5) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_three_services_scale_keep_their_data_and_go(pb, busybox, tmp_path):
    d = project(tmp_path, busybox)

    def compose(*args, expect=0):
        return pb("compose", *args, cwd=d, expect=expect, timeout=180)
    compose("up", "-d")
    assert ask("set=hello") == "app sees: stored\n"   # front -> app -> store, by service name
    assert ask("get") == "app sees: hello\n"
    ps = compose("ps").stdout
    assert "course_store_1" in ps and "Up (healthy)" in ps and f"127.0.0.1:{PORT}->80/tcp" in ps
    again = compose("up", "-d")
    assert "Recreating" not in again.stdout + again.stderr and "Creating" not in again.stdout + again.stderr
    compose("up", "-d", "--scale", "app=3")
    assert pb("ps", "-q", "-f", "label=course.tier=app").stdout.count("\n") == 3
    hosts = pb("exec", "course_front_1", "cat", "/etc/hosts").stdout
    assert sum(" app " in line + " " for line in hosts.splitlines()) == 3, hosts  # the alias names all three
    assert ask("get") == "app sees: hello\n"
    compose("stop")
    assert pb("ps", "-q").stdout == ""
    compose("start")
    assert ask("get") == "app sees: hello\n"                # the named volume kept the data
    assert compose("exec", "-T", "store", "cat", "/data/value").stdout == "hello\n"
    assert compose("run", "--rm", "-T", "store", "cat", "/data/value").stdout == "hello\n"
    compose("pause", "store")
    assert "Paused" in compose("ps", "store").stdout
    compose("unpause", "store")
    assert "busybox httpd" in compose("top", "store").stdout
    compose("restart", "app")
    assert ask("get") == "app sees: hello\n"
    assert "store:" in compose("config").stdout
    compose("down", "-v")
    assert pb("ps", "-a", "-q").stdout == ""
    assert "course_default" not in pb("network", "ls").stdout
    assert "course_data" not in pb("volume", "ls").stdout


def test_an_unhealthy_dependency_keeps_its_dependants_from_starting(pb, busybox, tmp_path):
    d = project(tmp_path, busybox, healthy=False)
    r = pb("compose", "up", "-d", cwd=d, expect=None, timeout=180)
    assert r.returncode != 0 and "unhealthy" in r.stdout + r.stderr
    assert pb("ps", "-q", "-f", "name=broken_app").stdout == ""
    assert pb("inspect", "-f", "{{.State.Health.Status}}", "broken_store_1").stdout == "unhealthy\n"
    pb("compose", "down", "-v", cwd=d, timeout=180)
    assert pb("ps", "-a", "-q").stdout == ""


OPTIONS = """\
version: "2.4"
services:
  built:
    build: ./img
    image: composebuilt
  opts:
    image: {image}
    entrypoint: ["sh", "-c"]
    command: ["id -u; pwd; echo $$FROM_FILE $$INLINE; mount | grep -c ' /scratch '; echo ready; sleep 300"]
    user: "1000:1000"
    working_dir: /tmp
    env_file: vars.env
    environment:
      INLINE: inline
    tmpfs: /scratch
    volumes:
      - type: bind
        source: ./img
        target: /img
        read_only: true
    ports:
      - "127.0.0.1:{port}-{port2}:9000-9001"
    cap_add: [NET_ADMIN]
    cap_drop: [CHOWN]
    mem_limit: 64m
    cpus: 0.5
    pids_limit: {pids}
    stop_grace_period: 1s
    restart: unless-stopped
"""


def test_build_options_recreate_and_foreground_up(pb, busybox, tmp_path):
    import os
    import signal
    import subprocess

    from conftest import pocketbox_argv

    d = tmp_path / "opts"
    (d / "img").mkdir(parents=True)
    (d / "img" / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo built-by-compose > /built\nCMD [\"cat\", \"/built\"]\n")
    (d / "vars.env").write_text("FROM_FILE=yes\n")
    (d / "docker-compose.yml").write_text(OPTIONS.format(image=busybox, port=PORT + 10, port2=PORT + 11, pids=50))

    def compose(*args, expect=0):
        return pb("compose", *args, cwd=d, expect=expect, timeout=180)
    pulled = compose("pull", "opts")
    assert "Pulling opts" in pulled.stdout + pulled.stderr
    assert "Successfully tagged composebuilt:latest" in compose("build").stdout
    assert "built-by-compose" in compose("up", "built").stdout
    compose("up", "-d")
    deadline = time.monotonic() + 20
    while "ready" not in (logs := compose("logs", "--no-color", "opts").stdout) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [line.split("|", 1)[1].strip() for line in logs.splitlines() if "|" in line][:5] == \
        ["1000", "/tmp", "yes inline", "1", "ready"]
    seen = pb("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}} "
                            "{{.HostConfig.CapAdd}} {{.HostConfig.CapDrop}} {{.HostConfig.RestartPolicy.Name}} "
                            "{{.Config.StopTimeout}} {{len .HostConfig.PortBindings}}", "opts_opts_1").stdout
    assert seen == "67108864 500000000 50 [NET_ADMIN] [CHOWN] unless-stopped 1 2\n"
    first = pb("inspect", "-f", "{{.Id}}", "opts_opts_1").stdout
    assert "Recreating" not in compose("up", "-d").stderr
    (d / "docker-compose.yml").write_text(OPTIONS.format(image=busybox, port=PORT + 10, port2=PORT + 11, pids=60))
    assert "Recreating opts_opts_1" in compose("up", "-d").stderr
    assert pb("inspect", "-f", "{{.HostConfig.PidsLimit}}", "opts_opts_1").stdout == "60\n"
    assert pb("inspect", "-f", "{{.Id}}", "opts_opts_1").stdout != first
    # `up` in the foreground: the services' logs, and Ctrl-C stops them
    up = subprocess.Popen(pocketbox_argv() + ["compose", "up", "opts"], cwd=d, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, start_new_session=True,
                          env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    lines = []
    for line in up.stdout:
        lines.append(line)
        if "ready" in line and "opts_1" in line:
            break
    os.killpg(up.pid, signal.SIGINT)
    rest, _ = up.communicate(timeout=60)
    assert "Gracefully stopping" in rest and up.returncode in (0, 130)
    assert pb("ps", "-q", "-f", "name=opts_opts_1").stdout == ""
    compose("down", "-v", "--rmi", "all")
    assert pb("ps", "-a", "-q").stdout == "" and "composebuilt" not in pb("images").stdout


def test_external_networks_and_volumes_are_used_and_kept(pb, busybox, tmp_path):
    d = tmp_path / "ext"
    d.mkdir()
    (d / "docker-compose.yml").write_text(f"""\
version: "2.4"
services:
  reader:
    image: {busybox}
    command: ["sh", "-c", "cat /ext/note; sleep 300"]
    volumes:
      - shared:/ext
networks:
  default:
    external: true
    name: course-shared
volumes:
  shared:
    external: true
    name: course-ext
""")
    pb("network", "create", "--subnet", "10.97.0.0/24", "course-shared")
    pb("volume", "create", "course-ext")
    pb("run", "--rm", "--network", "none", "-v", "course-ext:/ext", busybox, "sh", "-c", "echo kept > /ext/note")

    def compose(*args, expect=0):
        return pb("compose", *args, cwd=d, expect=expect, timeout=180)
    compose("up", "-d")
    assert pb("inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{$v.IPAddress}}{{end}}",
              "ext_reader_1").stdout.startswith("course-shared 10.97.0.")
    deadline = time.monotonic() + 20
    while "kept" not in compose("logs", "--no-color").stdout and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "kept" in compose("logs", "--no-color").stdout
    compose("down", "-v")
    assert pb("ps", "-a", "-q").stdout == ""
    assert "course-shared" in pb("network", "ls").stdout and "course-ext" in pb("volume", "ls").stdout
    pb("network", "rm", "course-shared")
    pb("volume", "rm", "course-ext")
