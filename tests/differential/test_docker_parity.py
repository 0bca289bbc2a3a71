"""pocketbox against real Docker (Debian's docker.io dockerd, started here: tests/helpers/dockerd.py),
over the command lines a Docker course uses: the same exit code, and the same standard output
once container IDs are normalised. The differences that remain on purpose are listed in
docs/docker-differences.md, not here."""
import http.server
import json
import re
import subprocess
import threading
import urllib.parse

import pytest

from conftest import requires_root
from helpers.dockerd import Dockerd, available

pytestmark = [requires_root, pytest.mark.skipif(not available(), reason="dockerd missing: scripts/test.sh installs docker.io")]

ID = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")


class FakeIndex(http.server.BaseHTTPRequestHandler):
    """Docker Hub's search API (/v1/search), answering every query with the same three images."""
    RESULTS = [{"name": "busybox", "description": "Busybox base image, the smallest useful thing in the whole "
                "world of containers", "star_count": 3000, "is_official": True, "is_automated": False},
               {"name": "someone/busy", "description": "a  busy\nimage", "star_count": 5, "is_official": False,
                "is_automated": True},
               {"name": "other/busy", "description": "", "star_count": 0, "is_official": False, "is_automated": False}]

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        limit = int(query.get("n", ["25"])[0])
        body = json.dumps({"num_results": 3, "query": query.get("q", [""])[0], "results": self.RESULTS[:limit]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def images(make_image):
    return {
        "IMG": make_image("busybox"),
        "USERIMG": make_image("with-user", config={"User": "65534"}),
        "VOLIMG": make_image("with-volume", config={"Volumes": {"/data": {}}}),
        "RESOLVIMG": make_image("resolv-link", [("etc", "dir", None),
                                                ("etc/resolv.conf", "symlink", "../run/systemd/resolve/stub-resolv.conf")]),
        "INDEX": index_address(),
    }


def index_address() -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def docker(tmp_path_factory, images):
    d = Dockerd(tmp_path_factory.mktemp("dockerd"))
    try:
        for name, ref in images.items():
            if name != "INDEX":
                d.docker("pull", "-q", ref)
        yield d
    finally:
        d.stop()


def both(pb, docker, images, base, line: list[str], input: str | None = None):
    """(docker's, pocketbox's) (exit code, normalised stdout, stderr) for one command line; each side
    has a directory of its own (HOSTDIR in a line, and the current directory)."""
    out = []
    for side in ("docker", "pocketbox"):
        here = base / side
        ports = {name: str(numbers[side == "pocketbox"]) for name, numbers in HOST_PORTS.items()}
        args = [images.get(a, a).replace("HOSTDIR", str(here)).replace("INDEX", images["INDEX"]) for a in line]
        if input is not None:  # (a Dockerfile on stdin names the images too)
            input = re.sub(r"\b(IMG|USERIMG|VOLIMG)\b", lambda m: images[m.group(1)], input)
        for name, number in ports.items():
            args = [a.replace(name, number) for a in args]
        if side == "docker":
            r = subprocess.run(["docker", *args], capture_output=True, text=True, input=input, env=docker.env(),
                               cwd=here, timeout=120)
        else:
            r = pb(*args, input=input, expect=None, cwd=here)
        stdout = ID.sub("<id>", r.stdout)
        for name, number in ports.items():
            stdout = stdout.replace(number, name)
        if any("{{.Networks}}" in a for a in line):  # Docker lists them in Go's map order, which varies
            stdout = re.sub(r"[\w.-]+(?:,[\w.-]+)+", lambda m: ",".join(sorted(m.group(0).split(","))), stdout)
        out.append((r.returncode, stdout, r.stderr))
    return out


# both daemons share the suite's network namespace: each side publishes on ports of its own
HOST_PORTS = {"PORTA": (18181, 18281), "PORTB": (18182, 18282), "PORTC": (18183, 18283),
              "SUBNETA": ("10.201.1.0/24", "10.202.1.0/24"), "SUBNETB": ("10.201.2.0/24", "10.202.2.0/24")}


# Each scenario: lines run in order on both; (line, stdin) pairs; every line must agree.
SCENARIOS = {
    "run basics": [
        ["run", "--rm", "--network", "none", "IMG", "echo", "hello"],
        ["run", "--rm", "--network", "none", "IMG", "sh", "-c", "exit 3"],
        ["run", "--rm", "--network", "none", "IMG", "nosuchcmd"],
        ["run", "--rm", "--network", "none", "IMG", "/etc"],
        ["run", "--rm", "--network", "none", "-e", "A=b", "IMG", "sh", "-c", "echo $A"],
        ["run", "--rm", "--network", "none", "-w", "/tmp/new", "IMG", "pwd"],
        ["run", "--rm", "--network", "none", "--name", "x", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--nope", "IMG", "true"],
        ["run"],
    ],
    "users and groups": [
        ["run", "--rm", "--network", "none", "IMG", "id"],
        ["run", "--rm", "--network", "none", "-u", "65534", "IMG", "id"],
        ["run", "--rm", "--network", "none", "-u", "1:1", "IMG", "id"],
        ["run", "--rm", "--network", "none", "-u", "nobody", "IMG", "sh", "-c", "echo $HOME"],
        ["run", "--rm", "--network", "none", "USERIMG", "id"],
        ["run", "--rm", "--network", "none", "-u", "0", "USERIMG", "id", "-u"],
    ],
    "missing things": [
        ["stop", "nosuch"], ["rm", "nosuch"], ["logs", "nosuch"], ["kill", "nosuch"], ["inspect", "nosuch"],
        ["stop"], ["nosuchcommand"],
    ],
    "exec": [
        ["run", "-d", "--name", "web", "--network", "none", "IMG", "sleep", "60"],
        ["exec", "web", "nosuchcmd"],
        ["exec", "web", "sh", "-c", "exit 4"],
        (["exec", "web", "cat"], "not read without -i\n"),
        (["exec", "-i", "web", "cat"], "read with -i\n"),
        ["ps", "-q", "-f", "name=^web$"],
        ["ps", "-q", "-f", "name=^eb$"],
        ["kill", "web"],
        ["rm", "web"],
    ],
    "stop of a --rm container": [
        ["run", "-d", "--rm", "--name", "gone", "--network", "none", "IMG", "sleep", "60"],
        ["stop", "-t", "1", "gone"],
        ["ps", "-a", "-q"],
    ],
    "a container that cannot start": [
        ["run", "--name", "fail", "--network", "none", "IMG", "nosuchcmd"],
        ["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "fail"],
        ["rm", "fail"],
    ],
    "inspect": [
        ["run", "--name", "insp", "--network", "none", "-e", "A=b", "IMG", "true"],
        ["inspect", "-f", "{{json .Config.Env}}", "insp"],
        ["inspect", "-f", "{{.Config.User}}|{{.State.Dead}}|{{.State.Restarting}}|{{.RestartCount}}|{{.Platform}}|"
                          "{{.Config.StdinOnce}}|{{.Config.AttachStdout}}|{{.Config.Domainname}}|{{.Path}}|{{.Args}}",
         "insp"],
        ["run", "--name", "insp2", "--network", "none", "USERIMG", "true"],
        ["inspect", "-f", "{{.Config.User}}|{{json .Config.Volumes}}", "insp2"],
        ["run", "--name", "insp3", "--network", "none", "VOLIMG", "true"],
        ["inspect", "-f", "{{json .Config.Volumes}}", "insp3"],
        ["rm", "insp", "insp2", "insp3"],
    ],
    "create and rename": [
        ["create", "--name", "made", "--network", "none", "IMG", "echo", "hi"],
        ["inspect", "-f", "{{.State.Status}} {{.Name}}", "made"],
        ["rename", "made", "renamed"],
        ["rename", "renamed", "renamed"],
        ["rename", "nosuch", "other"],
        ["create", "--name", "second", "--network", "none", "IMG", "true"],
        ["rename", "renamed", "second"],
        ["start", "-a", "renamed"],
        ["inspect", "-f", "{{.State.Status}} {{.Name}}", "renamed"],
        ["rm", "renamed", "second"],
    ],
    "wait": [
        ["run", "-d", "--name", "five", "--network", "none", "IMG", "sh", "-c", "exit 5"],
        ["wait", "five"],
        ["rm", "five"],
    ],
    "list formats": [
        ["run", "--name", "fmt1", "--network", "none", "--label", "tier=web", "IMG", "true"],
        ["create", "--name", "fmt2", "--network", "none", "IMG", "sleep", "1"],
        ["ps", "-a", "--format", "{{.Names}} {{.State}} {{.Image}} {{.Command}} {{.Labels}}"],
        ["ps", "-a", "--format", "table {{.Names}}\t{{.State}}"],
        ["ps", "-a", "--format", "{{.Names}}|{{.Label \"tier\"}}|{{.Networks}}|{{.LocalVolumes}}"],
        ["ps", "-a", "-f", "label=tier=web", "--format", "{{.Names}}"],
        ["ps", "-a", "-f", "status=created", "--format", "{{.Names}}"],
        ["ps", "-a", "-f", "exited=0", "--format", "{{.Names}}"],
        ["ps", "-n", "1", "--format", "{{.Names}}"],
        ["ps", "-l", "-q"],
        ["ps", "-a", "-f", "nosuchkey=1"],
        ["images", "--format", "{{.Repository}}:{{.Tag}}", "IMG"],
        ["images", "--format", "table {{.Repository}}\t{{.Tag}}", "IMG"],
        ["volume", "create", "fmtvol"],
        ["volume", "ls", "-f", "name=fmtvol", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"],
        ["volume", "inspect", "-f", "{{.Name}} {{.Driver}}", "fmtvol"],
        ["volume", "rm", "fmtvol"],
        ["network", "ls", "-f", "name=none", "--format", "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}}"],
        ["network", "inspect", "-f", "{{.Name}} {{.Driver}} {{.Scope}}", "host"],
        ["image", "inspect", "-f", "{{.Os}} {{.Architecture}}", "IMG"],
        ["info", "--format", "{{.OSType}}"],
        ["rm", "fmt1", "fmt2"],
    ],
    "templates": [
        # (one -e: the order of several is Go map order in Docker's CLI, different from run to run)
        ["run", "--name", "tpl", "--network", "none", "-e", "A=1", "--label", "a=b", "IMG", "true"],
        ["inspect", "-f", "{{range .Config.Env}}{{.}};{{end}}", "tpl"],
        ["inspect", "-f", "{{range $i, $e := .Args}}{{$i}}{{end}}|{{len .Config.Env}}", "tpl"],
        ["inspect", "-f", "{{if eq .State.Status \"exited\"}}done{{else}}running{{end}}", "tpl"],
        ["inspect", "-f", "{{index .Config.Labels \"a\"}} {{json .Config.Labels}} {{.Config.Labels}}", "tpl"],
        ["inspect", "-f", "{{upper .State.Status}} {{lower \"AB\"}} {{join .Config.Cmd \",\"}}", "tpl"],
        ["inspect", "-f", "{{with .State}}{{.ExitCode}}{{end}} {{.State.Nope}}", "tpl"],
        ["inspect", "-f", "{{.State.Status", "tpl"],
        ["rm", "tpl"],
    ],
    "process flags": [
        ["run", "--rm", "--network", "none", "--add-host", "foo:1.2.3.4", "IMG", "grep", "foo", "/etc/hosts"],
        ["run", "--rm", "--network", "none", "--add-host", "foo:nope", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--ulimit", "nofile=100:200", "IMG", "sh", "-c", "ulimit -n; ulimit -Hn"],
        ["run", "--rm", "--network", "none", "--ulimit", "nofile=300:200", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--ulimit", "nosuch=1", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--init", "IMG", "sh", "-c", "exit 3"],
        ["run", "--rm", "--network", "none", "--sysctl", "net.ipv4.ip_unprivileged_port_start=80", "IMG",
         "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start"],
        ["run", "--rm", "--network", "none", "--sysctl", "vm.swappiness=1", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--shm-size", "10m", "IMG", "sh", "-c", "df -k /dev/shm | tail -1"],
        ["run", "--rm", "--network", "none", "--pid", "host", "IMG", "sh", "-c", "test $$ != 1 && echo not-pid-1"],
        ["run", "--rm", "--network", "none", "--ipc", "none", "IMG", "test", "-d", "/dev/shm"],
        ["run", "--rm", "--network", "none", "--ipc", "nosuch", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--uts", "host", "-h", "x", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--cidfile", "HOSTDIR/cid", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--cidfile", "HOSTDIR/cid", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--stop-signal", "NOSUCH", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--cpuset-cpus", "0", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--cpuset-cpus", "999", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--cpus", "1", "--cpu-period", "100000", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--memory-reservation", "1g", "-m", "64m", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--log-driver", "nosuch", "IMG", "true"],
        ["run", "--rm", "--network", "none", "--expose", "80-x", "IMG", "true"],
    ],
    "recorded flags": [
        ["create", "--name", "rec", "--network", "none", "--stop-signal", "SIGUSR1", "--stop-timeout", "3",
         "--label", "x=y", "--expose", "80", "--expose", "90-91/udp", "--shm-size", "8m", "--ulimit", "nproc=10:20",
         "--add-host", "a:1.1.1.1", "--dns", "9.9.9.9", "--init", "--pid", "host", "--log-opt", "max-size=1m",
         "--memory-reservation", "32m", "--cpu-quota", "50000", "--health-cmd", "true", "--health-retries", "4",
         "IMG", "true"],
        ["inspect", "-f", "{{.Config.StopSignal}} {{.Config.StopTimeout}} {{.Config.Labels}} {{json .Config.ExposedPorts}}",
         "rec"],
        ["inspect", "-f", "{{.HostConfig.ShmSize}} {{json .HostConfig.Ulimits}} {{.HostConfig.ExtraHosts}} "
                          "{{.HostConfig.Dns}} {{.HostConfig.Init}} {{.HostConfig.PidMode}}", "rec"],
        ["inspect", "-f", "{{.HostConfig.LogConfig.Type}} {{.HostConfig.LogConfig.Config}} "
                          "{{.HostConfig.MemoryReservation}} {{.HostConfig.CpuQuota}}", "rec"],
        ["inspect", "-f", "{{json .Config.Healthcheck}}", "rec"],
        ["rm", "rec"],
    ],
    "logs and health": [
        ["run", "--name", "nolog", "--network", "none", "--log-driver", "none", "IMG", "echo", "hi"],
        ["logs", "nolog"],
        ["run", "-d", "--name", "healthy", "--network", "none", "--health-cmd", "exit 0", "--health-interval", "1s",
         "IMG", "sleep", "60"],
        ["inspect", "-f", "{{.State.Health.Status}}", "healthy"],
        ["run", "--rm", "--network", "none", "IMG", "sleep", "3"],
        ["inspect", "-f", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}", "healthy"],
        ["ps", "-f", "health=healthy", "--format", "{{.Names}}"],
        ["rm", "-f", "nolog", "healthy"],
    ],
    "exec flags": [
        ["run", "-d", "--name", "ex", "--network", "none", "IMG", "sleep", "60"],
        ["exec", "--env-file", "HOSTDIR/missing.env", "ex", "true"],
        ["exec", "ex", "sh", "-c", "grep CapEff /proc/self/status"],
        ["stats", "--no-stream", "--format", "{{.Name}}", "ex"],
        ["top", "nosuch"],
        ["update", "--memory", "64m", "--restart", "on-failure:3", "ex"],
        ["update", "--memory", "64m", "--memory-swap", "128m", "--restart", "on-failure:3", "ex"],
        ["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}", "ex"],
        ["update", "--cpus", "0.5", "nosuch"],
        ["rm", "-f", "ex"],
    ],
    "cp": [
        ["run", "-d", "--name", "files", "--network", "none", "IMG", "sh", "-c",
         "mkdir -p /data/sub && echo one > /data/a && echo two > /data/sub/b && ln -s /etc/passwd /data/pw && sleep 60"],
        ["run", "--rm", "--network", "none", "IMG", "sleep", "1"],
        ["cp", "files:/data", "HOSTDIR/out1"],
        ["cp", "files:/data/.", "HOSTDIR/out2"],
        ["cp", "files:/data/a", "HOSTDIR/out2/renamed"],
        ["cp", "files:/data/nope", "HOSTDIR/x"],
        ["cp", "files:/data/sub", "HOSTDIR/out1/a"],
        ["cp", "files:/data/a", "HOSTDIR/nodir/"],
        ["run", "--rm", "--network", "none", "-v", "HOSTDIR:/h", "IMG", "sh", "-c",
         "cd /h && ls -R out1 out2 && cat out1/a out2/renamed && readlink out1/pw"],
        ["cp", "HOSTDIR/out1", "files:/copied"],
        ["cp", "HOSTDIR/out2/renamed", "files:/data/sub/"],
        ["cp", "HOSTDIR/out1/a", "files:/nonexist/x"],
        ["exec", "files", "sh", "-c", "ls -R /copied /data/sub; cat /data/sub/renamed"],
        ["exec", "files", "stat", "-c", "%u:%g", "/copied/a"],
        ["cp", "nosuch:/x", "HOSTDIR/y"],
        ["cp", "HOSTDIR/out1", "HOSTDIR/y"],
        ["rm", "-f", "files"],
    ],
    "published ports": [
        ["run", "-d", "--name", "pub", "-p", "PORTA:80", "-p", "127.0.0.1:PORTC:81", "IMG", "sleep", "60"],
        ["port", "pub"],
        ["port", "pub", "80"],
        ["ps", "--format", "{{.Ports}}"],
        ["inspect", "-f", "{{json .HostConfig.PortBindings}}", "pub"],
        ["rm", "-f", "pub"],
        ["run", "-d", "--name", "pub6", "-p", "[::1]:PORTB:80", "IMG", "sleep", "60"],
        ["port", "pub6"],
        ["rm", "-f", "pub6"],
        ["run", "--rm", "-p", "[zz]:1:2", "IMG", "true"],
    ],
    "network connect": [
        ["network", "create", "--subnet", "SUBNETA", "front"],
        ["network", "create", "--subnet", "SUBNETB", "back"],
        ["run", "-d", "--name", "app", "--network", "front", "IMG", "sleep", "60"],
        ["network", "connect", "--alias", "api", "back", "app"],
        ["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "app"],
        ["exec", "app", "sh", "-c", "ip -o -4 addr | wc -l"],
        ["network", "connect", "back", "app"],
        ["network", "connect", "host", "app"],
        ["network", "connect", "back", "nosuch"],
        ["ps", "-f", "network=back", "--format", "{{.Names}} {{.Networks}}"],
        ["network", "disconnect", "back", "app"],
        ["exec", "app", "sh", "-c", "ip -o -4 addr | wc -l"],
        ["network", "disconnect", "back", "app"],
        ["rm", "-f", "app"],
        ["network", "rm", "front", "back"],
    ],
    "search": [
        ["search", "INDEX/busy"],
        ["search", "--limit", "2", "--no-trunc", "INDEX/busy"],
        ["search", "-f", "stars=10", "--format", "{{.Name}} {{.StarCount}} {{.IsOfficial}}", "INDEX/busy"],
        ["search", "-f", "is-official=false", "--format", "{{.Name}}", "INDEX/busy"],
        ["search", "--limit", "0", "INDEX/busy"],
        ["search", "--limit", "101", "INDEX/busy"],
    ],
    "build": [
        (["build", "-q", "--network", "none", "-t", "built", "-"],
         "FROM IMG\nARG A=1\nENV B=\"$A x\" C=${A:-d} D=${NONE:-none}\nWORKDIR /w\nRUN echo \"$B\" > f\n"
         "USER 1:1\nEXPOSE 80 53/udp\nVOLUME /v\nLABEL k=v \"two words\"=\"a b\"\nSTOPSIGNAL SIGINT\n"
         "ENTRYPOINT [\"sh\", \"-c\"]\nCMD [\"cat f; id -u\"]\n"),
        ["run", "--rm", "--network", "none", "built"],
        ["inspect", "-f", "{{json .Config.Env}} {{.Config.WorkingDir}} {{.Config.User}} {{json .Config.ExposedPorts}} "
                          "{{json .Config.Volumes}} {{json .Config.Labels}} {{.Config.StopSignal}} "
                          "{{json .Config.Entrypoint}} {{json .Config.Cmd}}", "built"],
        ["inspect", "-f", "{{len .RootFS.Layers}}", "built"],
        ["history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Size}}", "built"],
        (["build", "-q", "--network", "none", "--build-arg", "A=2", "-t", "built2", "-"],
         "FROM IMG\nARG A=1\nRUN echo $A > /a\nCMD [\"cat\", \"/a\"]\n"),
        ["run", "--rm", "--network", "none", "built2"],
        ["history", "--no-trunc", "--format", "{{.CreatedBy}}", "built2"],
        (["build", "-q", "--network", "none", "-"], "FROM IMG\nRUN exit 3\n"),
        (["build", "-q", "--network", "none", "-"], "FROM IMG\nFOO bar\n"),
        (["build", "-q", "--network", "none", "-"], "FROM IMG\nCOPY missing /x\n"),
        (["build", "-q", "--network", "none", "--target", "nosuch", "-"], "FROM IMG\n"),
        ["rmi", "built", "built2"],
        (["build", "-q", "--network", "none", "-t", "more", "-"],
         "FROM IMG\nVOLUME /v\nRUN echo gone > /v/f; echo kept > /g\nSHELL [\"/bin/sh\", \"-ec\"]\n"
         "RUN echo shell > /s\nHEALTHCHECK --interval=5s --retries=3 CMD true\nONBUILD RUN echo later > /later\n"),
        ["run", "--rm", "--network", "none", "more", "sh", "-c", "ls /v; cat /g /s"],
        ["inspect", "-f", "{{json .Config.Healthcheck}} {{json .Config.OnBuild}} {{json .Config.Shell}}", "more"],
        ["history", "--no-trunc", "--format", "{{.CreatedBy}} {{.Size}}", "more"],
        (["build", "-q", "--network", "none", "-t", "child", "-"], "FROM more\nRUN cat /later\n"),
        ["inspect", "-f", "{{json .Config.OnBuild}}", "child"],
        ["rmi", "child", "more"],
    ],
    "volumes": [
        ["run", "--rm", "--network", "none", "-v", "HOSTDIR/missing/dir:/x", "IMG", "test", "-d", "/x"],
        ["run", "--rm", "--network", "none", "-v", "./relative:/x", "IMG", "test", "-d", "/x"],
        ["run", "--rm", "--network", "none", "VOLIMG", "mountpoint", "-q", "/data"],
        ["run", "--rm", "--network", "none", "RESOLVIMG", "test", "-f", "/etc/resolv.conf"],
    ],
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_same_as_docker(pb, docker, images, tmp_path, scenario):
    for side in ("docker", "pocketbox"):
        (tmp_path / side).mkdir()
    try:
        for step in SCENARIOS[scenario]:
            line, stdin = step if isinstance(step, tuple) else (step, None)
            d, p = both(pb, docker, images, tmp_path, line, stdin)
            if d[1].startswith("OCI runtime"):  # Docker's CLI prints exec's runtime failure on stdout
                d = (d[0], "", d[2])
            assert (p[0], p[1]) == (d[0], d[1]), (
                f"{' '.join(line)}\n docker: exit {d[0]}, stdout {d[1]!r}, stderr {d[2][-300:]!r}"
                f"\n pocketbox: exit {p[0]}, stdout {p[1]!r}, stderr {p[2][-300:]!r}")
    finally:
        for c in docker.docker("ps", "-aq", check=False).stdout.split():
            docker.docker("rm", "-f", c, check=False)
