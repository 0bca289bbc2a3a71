"""The Docker Engine API (`pocketbox serve`), driven by real clients: the `docker` CLI (client only,
no Docker daemon involved) and docker-py. Both clients and the pocketbox CLI see one state."""
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time

import pytest

from conftest import pocketbox_argv, requires_root

pytestmark = [requires_root, pytest.mark.skipif(not shutil.which("docker"), reason="the docker CLI is missing")]


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str):
        super().__init__("localhost", timeout=30)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.connect(self.path)


@pytest.fixture
def service(pb, tmp_path):
    """`pocketbox serve` on a socket of this test, over this test's state root."""
    import tempfile

    here = tempfile.mkdtemp(prefix="pbapi-")  # (under /tmp and 0755: another user can reach the socket)
    os.chmod(here, 0o755)
    sock = os.path.join(here, "pb.sock")
    proc = subprocess.Popen(pocketbox_argv() + ["serve", "--socket", sock], stderr=subprocess.PIPE,
                            env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    deadline = time.monotonic() + 20
    while not os.path.exists(sock):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    env = {**os.environ, "DOCKER_HOST": f"unix://{sock}", "DOCKER_CONFIG": str(tmp_path / "docker-config"),
           "DOCKER_CLI_HINTS": "false"}
    env.pop("DOCKER_API_VERSION", None)
    yield sock, env
    proc.terminate()
    proc.wait(10)
    shutil.rmtree(here, ignore_errors=True)


def docker(env, *args, input=None, timeout=60):
    return subprocess.run(["docker", *args], env=env, capture_output=True, text=True, input=input, timeout=timeout)


def test_handshake_and_routes(service):
    sock, _ = service
    for method, path in (("HEAD", "/_ping"), ("GET", "/_ping"), ("GET", "/version"), ("GET", "/v1.41/version"),
                         ("GET", "/v1.30/info")):
        conn = UnixHTTP(sock)
        conn.request(method, path)
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200 and r.getheader("Api-Version") == "1.41", (path, r.status, body)
    assert json.loads(body)["OSType"] == "linux"
    conn = UnixHTTP(sock)
    conn.request("GET", "/containers/nosuch/json")
    r = conn.getresponse()
    assert r.status == 404 and json.loads(r.read()) == {"message": "No such container: nosuch"}
    os.chmod(sock, 0o666)  # (only so that the peer check itself is what refuses)
    nobody = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "/usr/bin/python3", "-c",
                             "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
                             "s.sendall(b'GET /_ping HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'); print(s.recv(4096).decode())",
                             sock], capture_output=True, text=True)
    assert nobody.stdout.startswith("HTTP/1.1 403") and "permission denied" in nobody.stdout


def test_docker_cli_runs_containers(service, pb, busybox):
    _, env = service
    assert docker(env, "run", "--rm", "--network", "none", busybox, "echo", "hello").stdout == "hello\n"
    r = docker(env, "run", "--network", "none", "--name", "three", busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    assert docker(env, "run", "--rm", "--network", "none", busybox, "nosuchcmd").returncode == 127
    assert docker(env, "run", "--rm", "--network", "none", busybox, "/etc").returncode == 126
    assert docker(env, "run", "--rm", "--network", "none", "nosuch/image:x", "true").returncode == 125
    r = docker(env, "run", "-i", "--rm", "--network", "none", busybox, "cat", input="through stdin\n")
    assert r.stdout == "through stdin\n"
    tty = subprocess.run(["script", "-qec", f"docker run --rm -it --network none {busybox} sh -c 'tty; exit 5'",
                          "/dev/null"], env=env, capture_output=True, text=True, timeout=60)
    assert tty.returncode == 5 and "/dev/pts/" in tty.stdout
    # one state: what docker made, pocketbox sees, and the other way round
    assert pb("ps", "-a", "--format", "{{.Names}} {{.Status}}").stdout.startswith("three Exited (3)")
    pb("run", "-d", "--name", "frompb", "--network", "none", busybox, "sleep", "60")
    assert docker(env, "ps", "--format", "{{.Names}}").stdout == "frompb\n"
    assert docker(env, "logs", "three").stdout == "out\n"
    assert docker(env, "inspect", "-f", "{{.State.ExitCode}} {{.Name}}", "three").stdout == "3 /three\n"
    docker(env, "rm", "three")
    assert docker(env, "rm", "frompb").returncode == 1  # running
    assert docker(env, "rm", "-f", "frompb").returncode == 0
    assert pb("ps", "-aq").stdout == ""


def test_detached_exec_logs_stop_start(service, pb, busybox):
    _, env = service
    cid = docker(env, "run", "-d", "--name", "web", "--network", "none", "-l", "tier=web", busybox, "sh", "-c",
                 "echo started; exec sleep 60").stdout.strip()
    assert len(cid) == 64
    assert docker(env, "ps", "-f", "label=tier=web", "-q").stdout.strip() == cid[:12]
    r = docker(env, "exec", "web", "sh", "-c", "echo in-exec; echo to-err >&2; exit 4")
    assert (r.returncode, r.stdout, r.stderr) == (4, "in-exec\n", "to-err\n")
    assert docker(env, "exec", "-i", "web", "cat", input="piped\n").stdout == "piped\n"
    # stdin that ends after the command started: the server's forks must not keep the pipe's write end
    slow = subprocess.run(["sh", "-c", "(echo one; sleep 0.5; echo two) | docker exec -i web cat"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert slow.stdout == "one\ntwo\n"
    assert docker(env, "exec", "web", "nosuchcmd").returncode == 126
    tty = subprocess.run(["script", "-qec", "docker exec -it web sh -c 'tty; exit 6'", "/dev/null"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert tty.returncode == 6 and "/dev/pts/" in tty.stdout
    assert docker(env, "logs", "web").stdout == "started\n"
    assert docker(env, "top", "web").stdout.splitlines()[0].split()[:2] == ["UID", "PID"]
    stats = json.loads(docker(env, "stats", "--no-stream", "--format", "{{json .}}", "web").stdout)
    assert stats["Name"] == "web" and stats["PIDs"] == "1"
    assert docker(env, "stop", "-t", "1", "web").returncode == 0
    assert docker(env, "wait", "web").stdout == "137\n"
    assert docker(env, "start", "web").returncode == 0
    assert docker(env, "inspect", "-f", "{{.State.Status}}", "web").stdout == "running\n"
    assert docker(env, "restart", "-t", "0", "web").returncode == 0
    assert docker(env, "rename", "web", "web2").returncode == 0
    assert docker(env, "kill", "web2").returncode == 0
    assert docker(env, "rm", "web2").returncode == 0


def test_images_volumes_networks_and_cp(service, pb, busybox, tmp_path):
    _, env = service
    assert busybox.split("/", 1)[1].split(":")[0] in docker(env, "images").stdout
    assert docker(env, "pull", busybox).returncode == 0
    assert docker(env, "tag", busybox, "mine:1").returncode == 0
    assert "mine:1" in pb("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert docker(env, "rmi", "mine:1").stdout.startswith("Untagged: mine:1")
    assert docker(env, "volume", "create", "--label", "a=b", "data").stdout == "data\n"
    assert docker(env, "volume", "ls", "-q").stdout == "data\n"
    assert docker(env, "run", "--rm", "--network", "none", "-v", "data:/d", busybox, "sh", "-c",
                  "echo kept > /d/f").returncode == 0
    assert pb("run", "--rm", "--network", "none", "-v", "data:/d", busybox, "cat", "/d/f").stdout == "kept\n"
    assert docker(env, "network", "create", "--subnet", "10.91.0.0/24", "apinet").returncode == 0
    docker(env, "run", "-d", "--name", "netted", "--network", "apinet", busybox, "sleep", "60")
    docker(env, "network", "create", "--subnet", "10.92.0.0/24", "apinet2")
    assert docker(env, "network", "connect", "--alias", "api", "apinet2", "netted").returncode == 0
    nets = docker(env, "inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "netted")
    assert nets.stdout.split() == ["apinet", "apinet2"]
    (tmp_path / "in.txt").write_text("copied in\n")
    assert docker(env, "cp", str(tmp_path / "in.txt"), "netted:/tmp/").returncode == 0
    assert docker(env, "exec", "netted", "cat", "/tmp/in.txt").stdout == "copied in\n"
    assert docker(env, "cp", "netted:/etc/hostname", str(tmp_path / "out")).returncode == 0
    assert (tmp_path / "out").read_text().strip() == docker(env, "inspect", "-f", "{{.Config.Hostname}}",
                                                            "netted").stdout.strip()
    docker(env, "rm", "-f", "netted")
    assert docker(env, "network", "rm", "apinet", "apinet2").returncode == 0
    assert docker(env, "volume", "rm", "data").returncode == 0
    time.sleep(1.1)  # (the CLI sends --until in whole seconds: the events of this second come after it)
    events = docker(env, "events", "--since", "5m", "--until", "0s", "--filter", "type=container",
                    "--format", "{{.Action}}").stdout.split()
    assert "create" in events and "start" in events and "destroy" in events


def test_docker_py(service, busybox):
    import docker as docker_py

    sock, _ = service
    client = docker_py.DockerClient(base_url=f"unix://{sock}")
    assert client.version()["ApiVersion"] == "1.41"
    assert client.containers.run(busybox, ["sh", "-c", "echo from-py"], network_mode="none", remove=True) == \
        b"from-py\n"
    box = client.containers.run(busybox, ["sleep", "60"], detach=True, network_mode="none", name="py",
                                labels={"made-by": "py"})
    assert [c.name for c in client.containers.list(filters={"label": "made-by=py"})] == ["py"]
    code, output = box.exec_run(["sh", "-c", "echo exec-py; exit 2"])
    assert (code, output) == (2, b"exec-py\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("put.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"put\n"))
    assert box.put_archive("/tmp", buf.getvalue())
    stream, stat = box.get_archive("/tmp/put.txt")
    data = b"".join(stream)
    assert stat["name"] == "put.txt" and b"put\n" in data
    box.remove(force=True)
    assert client.containers.list(all=True) == []
    client.close()


def test_course_flags_and_commands(service, pb, busybox, tmp_path):
    _, env = service
    (tmp_path / "shared").mkdir()
    os.chmod(tmp_path / "shared", 0o777)
    os.chmod(tmp_path, 0o755)
    r = docker(env, "run", "--rm", "--network", "none", "-e", "A=b", "-w", "/tmp/w", "-u", "65534",
               "-v", f"{tmp_path / 'shared'}:/shared", busybox, "sh", "-c", "echo $A; pwd; id -u; echo x > /shared/f")
    assert r.stdout.split() == ["b", "/tmp/w", "65534"] and (tmp_path / "shared" / "f").read_text() == "x\n"
    r = docker(env, "run", "--rm", "--network", "none", "-a", "stderr", busybox, "sh", "-c", "echo o; echo e >&2")
    assert (r.stdout, r.stderr) == ("", "e\n")
    docker(env, "create", "--name", "later", "--network", "none", busybox, "sh", "-c", "echo attached-start")
    r = docker(env, "start", "--attach", "later")
    assert (r.returncode, r.stdout) == (0, "attached-start\n")
    docker(env, "run", "-d", "--name", "ticker", "--network", "none", busybox, "sh", "-c",
           "for i in 1 2 3; do echo tick $i; sleep 0.3; done")
    follow = docker(env, "logs", "-f", "ticker")
    assert follow.stdout == "tick 1\ntick 2\ntick 3\n"
    docker(env, "run", "-d", "--name", "pub", "-p", "18420:80", busybox, "httpd", "-f", "-p", "80", "-h", "/etc")
    assert docker(env, "port", "pub", "80").stdout.startswith("0.0.0.0:18420")
    assert "18420->80/tcp" in docker(env, "ps", "--format", "{{.Ports}}").stdout
    deadline = time.monotonic() + 10
    while True:
        got = subprocess.run(["busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:18420/hostname"],
                             capture_output=True, text=True, timeout=5)
        if got.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert got.stdout.strip() == docker(env, "inspect", "-f", "{{.Config.Hostname}}", "pub").stdout.strip()
    assert "Images" in docker(env, "system", "df").stdout
    assert docker(env, "info", "--format", "{{.OSType}}").stdout == "linux\n"
    assert "pocketbox" in docker(env, "version").stdout
    assert docker(env, "history", "-q", busybox).returncode == 0
    archive = tmp_path / "saved.tar"
    assert docker(env, "save", "-o", str(archive), busybox).returncode == 0
    docker(env, "rm", "-f", "later", "ticker", "pub")
    assert docker(env, "rmi", busybox).returncode == 0
    assert "Loaded image" in docker(env, "load", "-i", str(archive)).stdout
    assert busybox in pb("images", "--format", "{{.Repository}}:{{.Tag}}").stdout


def test_docker_py_objects_and_events(service, busybox):
    import docker as docker_py

    sock, _ = service
    client = docker_py.DockerClient(base_url=f"unix://{sock}")
    since = int(time.time()) - 1
    image = client.images.pull(busybox)
    assert busybox in image.tags and busybox in [t for i in client.images.list() for t in i.tags]
    volume = client.volumes.create("pyvol", labels={"k": "v"})
    assert [v.name for v in client.volumes.list(filters={"label": "k=v"})] == ["pyvol"]
    network = client.networks.create("pynet", ipam=docker_py.types.IPAMConfig(
        pool_configs=[docker_py.types.IPAMPool(subnet="10.93.0.0/24")]))
    box = client.containers.run(busybox, ["sh", "-c", "echo logged; sleep 60"], detach=True, network="pynet",
                                volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, name="pybox")
    deadline = time.monotonic() + 10
    while b"logged" not in box.logs() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert box.logs() == b"logged\n"
    network.reload()
    assert [c.name for c in network.containers] == ["pybox"]
    box.stop(timeout=1)
    box.reload()
    assert box.status == "exited"
    box.remove()
    network.remove()
    volume.remove()
    actions = [e["Action"] for e in client.events(since=since, until=int(time.time()) + 1, decode=True,
                                                  filters={"type": "container"})]
    assert actions[:2] == ["create", "start"] and "die" in actions and actions[-1] == "destroy"
    client.close()


def test_bad_requests_change_nothing(service, pb):
    sock, _ = service

    def send(method, path, body=None, headers=None):
        conn = UnixHTTP(sock)
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    assert send("POST", "/containers/create", b"{not json")[0] == 400
    assert send("POST", "/containers/create", b"[1, 2]")[0] == 400
    assert send("POST", "/containers/create", json.dumps({"Image": "x", "HostConfig": "nope"}).encode())[0] == 400
    assert send("POST", "/containers/create", json.dumps({"Image": "x", "Cmd": 5}).encode())[0] in (400, 404)
    assert send("POST", "/containers/create?name=../../etc", json.dumps({"Image": "x"}).encode())[0] in (400, 404)
    assert send("POST", "/containers/create", b"x" * 100, {"Content-Length": str(64 << 20)})[0] == 400
    assert send("GET", "/containers/json?filters=%7Bbad")[0] == 400
    assert send("GET", "/nowhere")[0] == 404
    assert send("GET", "/_ping")[0] == 200  # still serving
    assert pb("ps", "-aq").stdout == "" and not list((pb.root / "containers").glob("*")) \
        if (pb.root / "containers").exists() else True


def test_containers_outlive_a_killed_service(pb, busybox, tmp_path, service):
    sock, env = service
    docker(env, "run", "-d", "--name", "survivor", "--network", "none", busybox, "sleep", "60")
    server = next(p for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).endswith(f"serve --socket {sock}"))
    os.kill(int(server), 9)
    time.sleep(0.3)
    assert pb("inspect", "-f", "{{.State.Status}}", "survivor").stdout == "running\n"
    again = subprocess.Popen(pocketbox_argv() + ["serve", "--socket", sock], stderr=subprocess.DEVNULL,
                             env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    try:
        deadline = time.monotonic() + 20
        while docker(env, "version").returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert docker(env, "ps", "--format", "{{.Names}} {{.State}}").stdout == "survivor running\n"
        assert docker(env, "exec", "survivor", "echo", "still").stdout == "still\n"
        docker(env, "rm", "-f", "survivor")
    finally:
        again.terminate()
        again.wait(10)


def _cmdline(pid: str) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def test_aliases_on_the_first_network_and_search_and_pull_events(service, busybox):
    """What compose sends: NetworkMode NET with EndpointsConfig{NET: {Aliases}}; and the image
    endpoints a GUI calls (search through an index on loopback, the pull event)."""
    import docker as docker_py

    sock, env = service
    client = docker_py.DockerClient(base_url=f"unix://{sock}")
    client.networks.create("proj_default", ipam=docker_py.types.IPAMConfig(
        pool_configs=[docker_py.types.IPAMPool(subnet="10.94.0.0/24")]))
    api = client.api
    db = api.create_container(busybox, ["sleep", "60"], name="proj_db_1",
                              host_config=api.create_host_config(network_mode="proj_default"),
                              networking_config=api.create_networking_config(
                                  {"proj_default": api.create_endpoint_config(aliases=["db"])}))
    api.start(db)
    web = client.containers.run(busybox, ["sleep", "60"], detach=True, network="proj_default", name="proj_web_1")
    assert web.exec_run(["ping", "-c", "1", "-W", "2", "db"]).exit_code == 0
    for c in client.containers.list(all=True):
        c.remove(force=True)
    client.networks.get("proj_default").remove()
    since = int(time.time()) - 1
    client.images.pull(busybox)
    pulls = [e for e in client.events(since=since, until=int(time.time()) + 1, decode=True,
                                      filters={"type": "image", "event": "pull"})]
    assert pulls and pulls[-1]["Actor"]["Attributes"]["name"] == busybox
    client.close()


def test_search_through_the_service(service):
    import http.server
    import threading

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"results": [{"name": "busybox", "description": "tiny", "star_count": 9,
                                            "is_official": True, "is_automated": False}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _, env = service
    try:
        out = docker(env, "search", "--format", "{{.Name}} {{.StarCount}} {{.IsOfficial}}",
                     f"127.0.0.1:{server.server_address[1]}/busy").stdout
        assert out == "busybox 9 [OK]\n"
    finally:
        server.shutdown()


def test_build_through_the_api(service, pb, busybox, tmp_path):
    """POST /build: the docker CLI's classic builder (DOCKER_BUILDKIT=0) and docker-py's images.build."""
    import docker as docker_py

    sock, env = service
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "note.txt").write_text("noted\n")
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nARG WHAT=default\nCOPY note.txt /note.txt\n"
                                    "RUN echo \"$WHAT\" > /what\nCMD [\"cat\", \"/note.txt\", \"/what\"]\n")
    env = {**env, "DOCKER_BUILDKIT": "0"}
    r = docker(env, "build", "-t", "apibuilt", "--network", "none", "--build-arg", "WHAT=cli", str(ctx))
    assert r.returncode == 0, r.stderr
    assert "Step 4/5 : RUN echo \"$WHAT\" > /what" in r.stdout and "Successfully tagged apibuilt:latest" in r.stdout
    assert pb("run", "--rm", "--network", "none", "apibuilt").stdout == "noted\ncli\n"
    quiet = docker(env, "build", "-q", "--network", "none", "--build-arg", "WHAT=cli", str(ctx))
    assert quiet.stdout.strip() == pb("images", "-q", "--no-trunc", "apibuilt").stdout.strip()
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo failing; exit 5\n")
    failed = docker(env, "build", "--network", "none", str(ctx))
    assert failed.returncode == 5 and "returned a non-zero code: 5" in failed.stderr
    assert pb("ps", "-a", "-q").stdout == ""
    client = docker_py.DockerClient(base_url=f"unix://{sock}")
    (ctx / "Dockerfile").write_text(f"FROM {busybox}\nLABEL made=by-docker-py\n")
    image, logs = client.images.build(path=str(ctx), tag="pybuilt", network_mode="none")
    assert image.labels == {"made": "by-docker-py"} and "pybuilt:latest" in image.tags
    assert any("Successfully built" in entry.get("stream", "") for entry in logs)
    with pytest.raises(docker_py.errors.BuildError, match="returned a non-zero code: 5"):
        (ctx / "Dockerfile").write_text(f"FROM {busybox}\nRUN exit 5\n")
        client.images.build(path=str(ctx), network_mode="none")
