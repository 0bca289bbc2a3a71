"""pocketbox against real Docker (Debian's docker.io dockerd, started here: tests/helpers/dockerd.py),
over the command lines a Docker course uses: the same exit code, and the same standard output
once container IDs are normalised. The differences that remain on purpose are listed in
docs/docker-differences.md, not here."""
import re
import subprocess

import pytest

from conftest import requires_root
from helpers.dockerd import Dockerd, available

pytestmark = [requires_root, pytest.mark.skipif(not available(), reason="dockerd missing: scripts/test.sh installs docker.io")]

ID = re.compile(r"\b[0-9a-f]{64}\b|\b[0-9a-f]{12}\b")


@pytest.fixture(scope="module")
def images(make_image):
    return {
        "IMG": make_image("busybox"),
        "USERIMG": make_image("with-user", config={"User": "65534"}),
        "VOLIMG": make_image("with-volume", config={"Volumes": {"/data": {}}}),
        "RESOLVIMG": make_image("resolv-link", [("etc", "dir", None),
                                                ("etc/resolv.conf", "symlink", "../run/systemd/resolve/stub-resolv.conf")]),
    }


@pytest.fixture(scope="module")
def docker(tmp_path_factory, images):
    d = Dockerd(tmp_path_factory.mktemp("dockerd"))
    try:
        for ref in set(images.values()):
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
        args = [images.get(a, a).replace("HOSTDIR", str(here)) for a in line]
        if side == "docker":
            r = subprocess.run(["docker", *args], capture_output=True, text=True, input=input, env=docker.env(),
                               cwd=here, timeout=120)
        else:
            r = pb(*args, input=input, expect=None, cwd=here)
        out.append((r.returncode, ID.sub("<id>", r.stdout), r.stderr))
    return out


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
