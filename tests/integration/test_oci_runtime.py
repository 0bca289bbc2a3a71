"""pocketbox-runc, the OCI runtime command line: bundles written here (a base config and one
change per test, as crun's own tests do) are run by pocketbox-runc and by runc itself, and each
spec feature is checked from inside the container or from the host. A test that only one of the
two passes is a wrong test or a wrong runtime. Then podman (with conmon) and containerd (with its
shim) drive pocketbox-runc as they drive runc."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.root

POCKETBOX_RUNC = "/usr/local/bin/pocketbox-runc"  # the launcher scripts/install.sh writes (python -IS)
RUNTIMES = {"pocketbox-runc": POCKETBOX_RUNC, "runc": "runc"}
# a container started by create/run -d keeps the runtime's stdio: never a pipe the test would wait on
DETACHED = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}


def base_spec(rootfs: Path, args: list[str]) -> dict:
    return {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "user": {"uid": 0, "gid": 0}, "args": args,
                    "env": ["PATH=/bin:/sbin:/usr/bin", "TERM=xterm"], "cwd": "/",
                    "capabilities": {k: ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_CHOWN"]
                                     for k in ("bounding", "effective", "permitted")},
                    "noNewPrivileges": True},
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "oci-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755",
                                                                                    "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]},
        ],
        "linux": {
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/bus"],
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        },
    }


class Runtime:
    """One runtime binary with a --root of its own; containers get unique ids and cgroups below
    /pocketbox, and are deleted at the end (the pb fixture then checks that no cgroup is left)."""

    def __init__(self, name: str, tmp: Path, rootfs: Path):
        self.name, self.binary = name, RUNTIMES[name]
        self.root = tmp / f"state-{name}"
        self.tmp, self.rootfs = tmp, rootfs
        self.ids: list[str] = []

    def __call__(self, *args, expect=0, input=None, timeout=60, **kw) -> subprocess.CompletedProcess:
        r = subprocess.run([self.binary, "--root", str(self.root), *map(str, args)], text=True, input=input,
                           timeout=timeout, **({"capture_output": True} if "stdout" not in kw else {}), **kw)
        if expect is not None:
            assert r.returncode == expect, (self.name, args, r.returncode, r.stdout, r.stderr)
        return r

    def bundle(self, args: list[str], change=None) -> tuple[str, Path]:
        cid = f"t{uuid.uuid4().hex[:10]}"
        self.ids.append(cid)
        b = self.tmp / f"bundle-{cid}"
        b.mkdir()
        spec = base_spec(self.rootfs, args)
        spec["linux"]["cgroupsPath"] = f"/pocketbox/{cid}"
        if change:
            change(spec)
        (b / "config.json").write_text(json.dumps(spec))
        return cid, b

    def run(self, args: list[str], change=None, expect=0) -> subprocess.CompletedProcess:
        cid, b = self.bundle(args, change)
        return self("run", "--bundle", b, cid, expect=expect, stdin=subprocess.DEVNULL)

    def state(self, cid: str) -> dict:
        return json.loads(self("state", cid).stdout)

    def cleanup(self) -> None:
        for cid in self.ids:
            self("delete", "--force", cid, expect=None)


@pytest.fixture(params=list(RUNTIMES))
def rt(request, pb, tmp_path, busybox_rootfs):
    r = Runtime(request.param, tmp_path, busybox_rootfs)
    yield r
    r.cleanup()


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


# --- the lifecycle ---------------------------------------------------------------------------
def test_lifecycle_create_start_state_exec_kill_delete(rt, tmp_path):
    cid, b = rt.bundle(["sh", "-c", "trap 'exit 3' TERM; echo started > /tmp/mark; while true; do sleep 0.05; done"])
    pid_file = tmp_path / f"{cid}.pid"
    rt("create", "--bundle", b, "--pid-file", pid_file, cid, **DETACHED)
    state = rt.state(cid)
    assert state["status"] == "created" and state["id"] == cid and state["bundle"] == str(b)
    assert int(pid_file.read_text()) == state["pid"] > 0
    listed = json.loads(rt("list", "--format", "json").stdout)
    assert [c["id"] for c in listed] == [cid] and listed[0]["status"] == "created"
    rt("start", cid)
    assert wait_for(lambda: rt("exec", cid, "cat", "/tmp/mark", expect=None).stdout == "started\n")
    assert rt.state(cid)["status"] == "running"
    r = rt("start", cid, expect=1)
    assert "running" in r.stderr
    r = rt("exec", cid, "sh", "-c", "echo $$; hostname; exit 7", expect=7)
    assert r.stdout.split()[1] == "oci-test" and int(r.stdout.split()[0]) > 1
    assert json.loads(rt("ps", "--format", "json", cid).stdout)[0] == state["pid"]
    r = rt("delete", cid, expect=1)
    assert "running" in r.stderr
    rt("kill", cid, "TERM")
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    assert rt.state(cid)["pid"] == 0
    rt("delete", cid)
    r = rt("state", cid, expect=1)
    assert "does not exist" in r.stderr
    assert rt("list", "-q").stdout == ""


def test_run_foreground_exit_status_and_output(rt):
    r = rt.run(["sh", "-c", "echo out; echo err >&2; exit 42"], expect=42)
    assert r.stdout == "out\n" and "err" in r.stderr
    r = rt.run(["/no/such/program"], expect=None)
    assert r.returncode != 0 and "/no/such/program" in r.stderr


def test_run_detached_then_pause_resume_update(rt):
    cid, b = rt.bundle(["sleep", "100"])
    rt("run", "--detach", "--bundle", b, cid, **DETACHED)
    assert rt.state(cid)["status"] == "running"
    rt("pause", cid)
    assert rt.state(cid)["status"] == "paused"
    rt("resume", cid)
    assert rt.state(cid)["status"] == "running"
    rt("resume", cid, expect=1)
    resources = {"memory": {"limit": 64 << 20}, "pids": {"limit": 50}}
    rt("update", "--resources", "-", cid, input=json.dumps(resources))
    assert host_cgroup_value(rt.state(cid)["pid"], "memory") == 64 << 20
    assert host_cgroup_value(rt.state(cid)["pid"], "pids") == 50
    rt("kill", cid, "KILL")
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt("delete", cid)


def host_cgroup_value(pid: int, controller: str) -> int:
    """The limit as the host's cgroup files say it (v2, or the v1 hierarchy)."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    files = {"memory": ("memory.max", "memory.limit_in_bytes"), "pids": ("pids.max", "pids.max"),
             "cpu": ("cpu.max", "cpu.cfs_quota_us")}[controller]
    for line in lines:
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return int(Path(f"/sys/fs/cgroup/{names}{path}/{files[1]}").read_text().split()[0])
    path = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
    return int(Path(f"/sys/fs/cgroup{path}/{files[0]}").read_text().split()[0])


def a_disk() -> str:
    """major:minor of a whole disk of this machine (block I/O limits name a device)."""
    for d in sorted(Path("/sys/block").iterdir()):
        if (d / "device").exists():
            return (d / "dev").read_text().strip()
    pytest.fail("no disk in /sys/block to set a block I/O limit on")


def cgroup_v2() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def test_block_io_limits_and_unified(rt):
    major, minor = map(int, a_disk().split(":"))

    def change(spec):
        spec["linux"]["resources"]["blockIO"] = {
            "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
            "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 300}]}
    cid, b = rt.bundle(["sleep", "100"], change)
    rt("create", "--bundle", b, cid, **DETACHED)
    pid = rt.state(cid)["pid"]
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    if cgroup_v2():
        path = next(line.split(":", 2)[2] for line in lines if line.startswith("0::"))
        io = Path(f"/sys/fs/cgroup{path}/io.max").read_text()
        assert f"{major}:{minor} rbps=1048576" in io and "wiops=300" in io
    else:
        path = next(line.split(":", 2)[2] for line in lines if "blkio" in line.split(":")[1].split(","))
        d = Path(f"/sys/fs/cgroup/blkio{path}")
        assert (d / "blkio.throttle.read_bps_device").read_text().split() == [f"{major}:{minor}", "1048576"]
        assert (d / "blkio.throttle.write_iops_device").read_text().split() == [f"{major}:{minor}", "300"]
    rt("delete", "--force", cid)
    # linux.resources.unified: written as given on cgroup v2, refused (by runc too) elsewhere
    r = rt.run(["cat", "/proc/self/cgroup"], lambda s: s["linux"]["resources"].update(
        unified={"pids.max": "42"}), expect=None)
    assert (r.returncode == 0) == cgroup_v2(), r.stderr
    if not cgroup_v2():
        assert "v1" in r.stderr or "v2" in r.stderr


def test_log_file_in_json(rt, tmp_path):
    log = tmp_path / f"{rt.name}.log"
    r = subprocess.run([rt.binary, "--root", str(rt.root), "--log", str(log), "--log-format", "json", "state",
                        "nosuch"], capture_output=True, text=True)
    assert r.returncode == 1 and "does not exist" in r.stderr
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "does not exist" in entry["msg"] and entry["time"]


# --- the spec, feature by feature ------------------------------------------------------------
def test_process_user_env_cwd_umask_rlimits_capabilities(rt):
    def change(spec):
        p = spec["process"]
        p["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 7], "umask": 0o077}
        p["env"].append("GREETING=hi")
        p["cwd"] = "/tmp"
        p["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}]
    r = rt.run(["sh", "-c", "id; echo $GREETING; pwd; umask; ulimit -n; grep -E 'Cap(Eff|Bnd)|NoNewPrivs' "
                "/proc/self/status"], change)
    out = r.stdout.splitlines()
    assert out[0].startswith("uid=1000 gid=1000") and "groups=" in out[0] and "5" in out[0] and "7" in out[0]
    assert out[1:5] == ["hi", "/tmp", "0077", "512"]
    caps = dict(line.split(":\t") for line in out[5:])
    # a non-root user keeps no effective capabilities; the bounding set is the spec's (KILL, NET_BIND_SERVICE, CHOWN)
    assert caps["CapEff"] == "0000000000000000"
    assert caps["CapBnd"] == f"{(1 << 0) | (1 << 5) | (1 << 10):016x}"
    assert caps["NoNewPrivs"] == "1"


def test_namespaces_hostname_masked_and_readonly_paths(rt):
    r = rt.run(["sh", "-c", "hostname; for n in pid net ipc uts mnt; do readlink /proc/self/ns/$n; done; "
                "wc -c < /proc/keys; ls /sys/firmware | wc -l; echo 1 > /proc/sys/kernel/shmmax && echo wrote; "
                "echo $$"])
    out = r.stdout.splitlines()
    assert out[0] == "oci-test"
    for line in out[1:6]:
        kind = line.split(":")[0]
        assert line != os.readlink(f"/proc/self/ns/{kind}"), f"{kind} namespace is the host's"
    assert out[6].strip() == "0" and out[7].strip() == "0", r.stdout
    assert "wrote" not in out and out[-1] == "1"


def test_joins_a_namespace_by_path_and_sets_sysctls(rt):
    holder = subprocess.Popen(["unshare", "-n", "sleep", "60"])
    try:
        assert wait_for(lambda: os.readlink(f"/proc/{holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"))
        net = os.readlink(f"/proc/{holder.pid}/ns/net")

        def change(spec):
            spec["linux"]["namespaces"] = [{"type": "network", "path": f"/proc/{holder.pid}/ns/net"} if n["type"] ==
                                           "network" else n for n in spec["linux"]["namespaces"]]
            spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
            spec["linux"]["readonlyPaths"] = []
        r = rt.run(["sh", "-c", "readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_forward"], change)
        assert r.stdout.splitlines() == [net, "1"]
    finally:
        holder.kill()
        holder.wait()


def test_sysctls_of_the_whole_machine_are_refused(rt):
    before = Path("/proc/sys/kernel/pid_max").read_text()
    r = rt.run(["true"], lambda s: s["linux"].update(sysctl={"kernel.pid_max": "40000"}), expect=None)
    assert r.returncode != 0 and "kernel.pid_max" in r.stderr
    no_netns = [n for n in base_spec(Path("/"), ["true"])["linux"]["namespaces"] if n["type"] != "network"]
    r = rt.run(["true"], lambda s: s["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}, namespaces=no_netns),
               expect=None)
    assert r.returncode != 0 and "net.ipv4.ip_forward" in r.stderr
    assert Path("/proc/sys/kernel/pid_max").read_text() == before


def test_mounts_with_options(rt, tmp_path):
    shared = tmp_path / f"shared-{rt.name}"
    shared.mkdir()
    (shared / "file").write_text("from the host\n")

    def change(spec):
        spec["mounts"] += [
            {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro", "nosuid"]},
            {"destination": "/rw", "type": "bind", "source": str(shared), "options": ["bind", "rw", "noexec"]},
            {"destination": "/small", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700", "nodev"]},
        ]
    r = rt.run(["sh", "-c", "cat /data/file; touch /data/x 2>/dev/null || echo ro; echo y > /rw/y; "
                "grep -E ' /(data|rw|small) ' /proc/self/mounts | cut -d' ' -f2,4"], change)
    out = r.stdout.splitlines()
    assert out[:2] == ["from the host", "ro"]
    options = {line.split()[0]: set(line.split()[1].split(",")) for line in out[2:]}
    assert {"ro", "nosuid"} <= options["/data"] and {"rw", "noexec"} <= options["/rw"]
    assert {"nodev", "size=1024k"} <= options["/small"]
    assert (shared / "y").read_text() == "y\n"


def test_devices_and_the_device_cgroup(rt):
    """linux.devices makes the nodes; linux.resources.devices decides which may be opened."""
    def change(allow_fuse: bool):
        def apply(spec):
            spec["linux"]["devices"] = [{"path": "/dev/myfuse", "type": "c", "major": 10, "minor": 229,
                                         "fileMode": 0o666, "uid": 0, "gid": 0}]
            if allow_fuse:
                spec["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 229,
                                                              "access": "rw"})
        return apply
    script = "ls -l /dev/myfuse | cut -c1-10; (exec 3<>/dev/myfuse) 2>/dev/null && echo opened || echo refused"
    assert rt.run(["sh", "-c", script], change(False)).stdout.splitlines() == ["crw-rw-rw-", "refused"]
    assert rt.run(["sh", "-c", script], change(True)).stdout.splitlines() == ["crw-rw-rw-", "opened"]


def test_seccomp_from_the_spec(rt):
    def change(spec):
        spec["linux"]["seccomp"] = {
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
                         {"names": ["kill"], "action": "SCMP_ACT_ERRNO",
                          "args": [{"index": 1, "value": 10, "op": "SCMP_CMP_EQ"}]}]}
    r = rt.run(["sh", "-c", "mkdir /tmp/d 2>&1; kill -0 $$ && echo sig0-ok; kill -USR1 $$ 2>&1; echo done"], change)
    out = r.stdout
    assert "Permission denied" in out.splitlines()[0]  # errnoRet 13 = EACCES
    assert "sig0-ok" in out and "not permitted" in out and out.endswith("done\n")


@pytest.fixture
def open_rootfs(busybox_rootfs):
    """A copy of the rootfs on a path every user may traverse: the container's mapped root must
    reach it (the test's own temporary directories are 0700)."""
    import tempfile

    top = tempfile.mkdtemp(prefix="pbtest-userns-", dir="/var/tmp")
    os.chmod(top, 0o755)
    subprocess.run(["cp", "-a", str(busybox_rootfs), f"{top}/rootfs"], check=True)
    yield Path(top) / "rootfs"
    shutil.rmtree(top)


def test_user_namespace_mappings(rt, open_rootfs):
    def change(spec):
        spec["root"]["path"] = str(open_rootfs)
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
    cid, b = rt.bundle(["sh", "-c", "id -u; cat /proc/self/uid_map; sleep 100"], change)
    rt("create", "--bundle", b, cid, **DETACHED)
    pid = rt.state(cid)["pid"]
    rt("start", cid)
    assert wait_for(lambda: "200000" in Path(f"/proc/{pid}/status").read_text().split("Uid:")[1].split("\n")[0])
    r = rt("exec", cid, "sh", "-c", "id -u; cat /proc/self/uid_map")
    assert r.stdout.split()[:4] == ["0", "0", "200000", "65536"]
    rt("kill", cid, "KILL")
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt("delete", cid)


def test_hooks_run_in_order_with_the_state(rt, tmp_path):
    log = tmp_path / f"hooks-{rt.name}"
    log.mkdir()

    def hook(name: str, inside: bool = False) -> dict:
        target = "/hooks" if inside else str(log)
        return {"path": "/bin/sh", "args": ["sh", "-c", f"cat > {target}/{name}.json; echo {name} >> {target}/order"]}

    def change(spec):
        spec["mounts"].append({"destination": "/hooks", "type": "bind", "source": str(log), "options": ["rbind"]})
        spec["annotations"] = {"org.example.test": "yes"}
        spec["hooks"] = {kind: [hook(kind, inside=kind == "startContainer")] for kind in
                         ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")}
    cid, b = rt.bundle(["sh", "-c", "echo process >> /hooks/order"], change)
    rt("run", "--bundle", b, cid, stdin=subprocess.DEVNULL)
    order = (log / "order").read_text().split()
    assert order[:3] == ["prestart", "createRuntime", "createContainer"] and order[-1] == "poststop"
    # poststart runs once `start` has let the process go: runc does not wait for its execve either
    assert sorted(order[3:6]) == ["poststart", "process", "startContainer"]
    assert order.index("startContainer") < order.index("process")
    for kind in ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"):
        state = json.loads((log / f"{kind}.json").read_text())
        assert state["id"] == cid and state["bundle"] == str(b), kind
        assert state["annotations"] == {"org.example.test": "yes"}, kind
        if kind != "poststop":
            assert state["pid"] > 0, kind


def test_failing_hook_fails_create_and_leaves_nothing(rt):
    def change(spec):
        spec["hooks"] = {"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}
    cid, b = rt.bundle(["true"], change)
    r = rt("create", "--bundle", b, cid, expect=None, stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert rt("state", cid, expect=None).returncode != 0 or rt.state(cid)["status"] == "stopped"


def test_terminal_through_the_console_socket(rt, tmp_path):
    path = str(tmp_path / f"console-{rt.name}.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)

    def change(spec):
        spec["process"]["terminal"] = True
    cid, b = rt.bundle(["sh", "-c", "tty; echo on-the-terminal; sleep 0.2"], change)
    rt("create", "--bundle", b, "--console-socket", path, cid, stdin=subprocess.DEVNULL)
    conn, _ = server.accept()
    _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
    conn.close()
    server.close()
    master = fds[0]
    rt("start", cid)
    out = b""
    try:
        while b"on-the-terminal" not in out:
            chunk = os.read(master, 4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass
    os.close(master)
    assert b"/dev/pts/0" in out and b"on-the-terminal" in out
    assert wait_for(lambda: rt.state(cid)["status"] == "stopped")
    rt("delete", cid)


def test_preserve_fds(rt, tmp_path):
    data = tmp_path / f"passed-{rt.name}"
    data.write_text("through fd 3\n")
    cid, b = rt.bundle(["sh", "-c", "cat <&3"])
    r = subprocess.run(["sh", "-c", 'exec 3<"$1"; shift; exec "$@"', "sh", str(data), rt.binary, "--root", str(rt.root),
                        "run", "--preserve-fds", "1", "--bundle", str(b), cid],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == "through fd 3\n", r.stderr


# --- the command line ------------------------------------------------------------------------
def test_usage_errors_exit_codes(rt, tmp_path):
    assert rt("no-such-command", expect=3).stdout == ""
    assert "flag provided but not defined" in rt("state", "--bogus", "x", expect=1).stderr
    assert rt("state", expect=1).stderr
    r = rt("create", "--bundle", tmp_path / "nowhere", "x1", expect=1)
    assert r.stderr and "Traceback" not in r.stderr
    r = rt("kill", "nosuch", expect=1)
    assert "does not exist" in r.stderr
    rt("delete", "--force", "nosuch", expect=0)


def test_features_spec_and_version(rt, tmp_path):
    features = json.loads(rt("features").stdout)
    assert features["hooks"] == ["prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                                 "poststop"]
    assert {"bind", "rbind", "ro", "nosuid", "rprivate"} <= set(features["mountOptions"])
    assert "SCMP_ACT_ERRNO" in features["linux"]["seccomp"]["actions"]
    d = tmp_path / f"spec-{rt.name}"
    d.mkdir()
    rt("spec", "--bundle", d)
    spec = json.loads((d / "config.json").read_text())
    assert spec["process"]["args"] == ["sh"] and spec["root"]["path"] == "rootfs"
    assert "File config.json exists" in rt("spec", "--bundle", d, expect=1).stderr
    assert "spec: 1.0" in rt("--version").stdout


def test_systemd_cgroup_paths_are_refused_clearly(pb, tmp_path, busybox_rootfs):
    r = Runtime("pocketbox-runc", tmp_path, busybox_rootfs)
    cid, b = r.bundle(["true"], lambda s: s["linux"].update(cgroupsPath="system.slice:pb:x"))
    out = r("run", "--bundle", b, cid, expect=1, stdin=subprocess.DEVNULL)
    assert "systemd" in out.stderr and "Traceback" not in out.stderr
    assert "not supported" in r("--systemd-cgroup", "list", expect=1).stderr
    assert not (r.root / cid).exists()


def test_killed_create_is_recovered(pb, tmp_path, busybox_rootfs):
    """kill -9 of `create` at its slowest moment (a hook runs): the next create of the id cleans
    up what it left (record, cgroup) and works."""
    r = Runtime("pocketbox-runc", tmp_path, busybox_rootfs)
    hook = {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 60}
    cid, b = r.bundle(["true"], lambda s: s.update(hooks={"createRuntime": [hook]}))
    p = subprocess.Popen([r.binary, "--root", str(r.root), "create", "--bundle", str(b), cid],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wait_for(lambda: children(p.pid, "sleep"))
    sleeper = children(p.pid, "sleep")[0]
    p.kill()
    p.wait()
    os.kill(sleeper, signal.SIGKILL)
    spec = json.loads((b / "config.json").read_text())
    del spec["hooks"]
    (b / "config.json").write_text(json.dumps(spec))
    r("create", "--bundle", b, cid, **DETACHED)
    assert r.state(cid)["status"] == "created"
    r("delete", cid)
    assert not (r.root / cid).exists()


def children(pid: int, name: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, NotADirectoryError):
            continue
        if entry.name.isdigit() and stat.rsplit(")", 1)[1].split()[1] == str(pid) and f"({name})" in stat:
            out.append(int(entry.name))
    return out


def test_the_engine_records_its_containers_in_the_runtime_state(pb, busybox):
    """pocketbox's own containers, started in-process, are in the runtime's state as if created
    and started through pocketbox-runc: its state, list, ps and pause agree with the engine."""
    root = str(pb.root / "runtime")

    def runc(*args, expect=0):
        r = subprocess.run([POCKETBOX_RUNC, "--root", root, *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == expect, (args, r.stdout, r.stderr)
        return r
    cid = pb("run", "-d", "--name", "seen", "--network", "none", busybox, "sleep", "100").stdout.strip()
    pid = int(pb("inspect", "-f", "{{.State.Pid}}", "seen").stdout)
    state = json.loads(runc("state", cid).stdout)
    assert (state["status"], state["pid"], state["bundle"]) == ("running", pid, str(pb.root / "containers" / cid))
    assert json.loads(runc("ps", "--format", "json", cid).stdout) == [pid]
    pb("pause", "seen")
    assert json.loads(runc("state", cid).stdout)["status"] == "paused"
    pb("unpause", "seen")
    pb("stop", "-t", "1", "seen")
    assert "does not exist" in runc("state", cid, expect=1).stderr
    foreground = pb.popen("run", "--rm", "--network", "none", busybox, "sleep", "1.5", stdout=subprocess.DEVNULL)
    assert wait_for(lambda: [c["status"] for c in json.loads(runc("list", "--format", "json").stdout) or []]
                    == ["running"])
    assert foreground.wait(30) == 0
    assert runc("list", "-q").stdout == ""
    pb("rm", "seen")


# --- engines driving it ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def podman_env(tmp_path_factory, busybox_rootfs):
    work = tmp_path_factory.mktemp("podman")
    runroot = f"/run/pbtest-podman-{os.getpid()}"
    base = ["podman", "--root", str(work / "root"), "--runroot", runroot, "--cgroup-manager", "cgroupfs",
            "--storage-driver", "overlay"]
    env = {**os.environ, "HOME": str(work)}
    tar = work / "bb.tar"
    subprocess.run(["tar", "-C", str(busybox_rootfs), "-cf", str(tar), "."], check=True)
    subprocess.run(base + ["import", "-q", str(tar), "localhost/pbtest-bb:latest"], check=True, env=env,
                   capture_output=True)
    yield base, env, work
    subprocess.run(base + ["rm", "-a", "-f"], env=env, capture_output=True)
    subprocess.run(base + ["system", "reset", "-f"], env=env, capture_output=True)
    shutil.rmtree(runroot, ignore_errors=True)
    remove_cgroup_tree("pocketbox-podman")


def remove_cgroup_tree(name: str) -> None:
    """What podman (conmon's cgroup) and containerd leave below the cgroup parent the tests gave them."""
    for hierarchy in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:
        top = hierarchy / name
        if top.is_dir():
            for d in sorted(top.rglob("*"), key=lambda p: -len(p.parts)):
                if d.is_dir():
                    d.rmdir()
            top.rmdir()


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_podman_drives_the_runtime(pb, podman_env, runtime):
    base, env, _ = podman_env
    podman = base + ["--runtime", RUNTIMES[runtime] if runtime == "pocketbox-runc" else shutil.which("runc")]
    opts = ["--network", "none", "--cgroup-parent", "/pocketbox-podman", "--ulimit", "nofile=1024:1024",
            "--ulimit", "nproc=1024:1024"]

    def podman_run(*args, check=True):
        r = subprocess.run(podman + list(args), capture_output=True, text=True, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert not check or r.returncode == 0, (runtime, args, r.stdout, r.stderr)
        return r
    r = podman_run("run", "--rm", *opts, "localhost/pbtest-bb", "sh", "-c", "echo hello; exit 0")
    assert r.stdout == "hello\n"
    assert podman_run("run", "--rm", *opts, "localhost/pbtest-bb", "sh", "-c", "exit 9", check=False).returncode == 9
    name = f"web-{runtime}"
    podman_run("run", "-d", "--name", name, *opts, "localhost/pbtest-bb", "sh", "-c",
               "echo up; trap 'echo bye; exit 3' TERM; while true; do sleep 0.1; done")
    assert wait_for(lambda: podman_run("logs", name).stdout == "up\n")
    assert name in podman_run("ps", "--format", "{{.Names}} {{.Status}}").stdout
    r = podman_run("exec", name, "sh", "-c", "echo exec; cat /proc/1/cmdline | tr '\\0' ' '")
    assert r.stdout.startswith("exec\nsh -c echo up")
    assert podman_run("exec", name, "sh", "-c", "exit 4", check=False).returncode == 4
    podman_run("stop", "-t", "5", name)
    assert podman_run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip() == "3"
    assert "bye" in podman_run("logs", name).stdout
    podman_run("start", name)
    assert "Up" in podman_run("ps", "--format", "{{.Status}}", "--filter", f"name={name}").stdout
    podman_run("rm", "-f", name)
    assert name not in podman_run("ps", "-a", "--format", "{{.Names}}").stdout


@pytest.fixture(scope="module")
def containerd(tmp_path_factory, podman_env):
    base, env, _ = podman_env
    work = tmp_path_factory.mktemp("containerd")
    config = work / "config.toml"
    config.write_text(f'version = 2\nroot = "{work}/root"\nstate = "{work}/state"\n'
                      f'[grpc]\n  address = "{work}/containerd.sock"\n'
                      f'[ttrpc]\n  address = "{work}/containerd.sock.ttrpc"\n'
                      '[debug]\n  address = ""\n[metrics]\n  address = ""\n'
                      '[plugins."io.containerd.grpc.v1.cri"]\n  disable_cgroup = true\n')
    daemon = subprocess.Popen(["containerd", "--config", str(config)], stdout=subprocess.DEVNULL,
                              stderr=open(work / "log", "w"))
    ctr = ["ctr", "--address", f"{work}/containerd.sock"]
    assert wait_for(lambda: subprocess.run(ctr + ["version"], capture_output=True).returncode == 0, 30)
    archive = work / "bb.tar"
    subprocess.run(base + ["save", "--format", "oci-archive", "-o", str(archive), "localhost/pbtest-bb:latest"],
                   check=True, env=env, capture_output=True)
    subprocess.run(ctr + ["images", "import", "--base-name", "localhost/pbtest-bb", str(archive)], check=True,
                   capture_output=True)
    yield ctr
    daemon.terminate()
    daemon.wait(30)
    subprocess.run(["umount", "-R", str(work / "state")], capture_output=True)
    remove_cgroup_tree("pocketbox-ctr")


@pytest.mark.parametrize("runtime", list(RUNTIMES))
def test_containerd_runs_tasks_with_the_runtime(pb, containerd, runtime):
    binary = RUNTIMES[runtime] if runtime == "pocketbox-runc" else shutil.which("runc")
    image = "localhost/pbtest-bb:latest"

    def ctr(*args, check=True):
        r = subprocess.run(containerd + list(args), capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        assert not check or r.returncode == 0, (runtime, args, r.stdout, r.stderr)
        return r
    one = f"once-{runtime}"
    r = ctr("run", "--rm", "--runc-binary", binary, "--cgroup", f"/pocketbox-ctr/{one}", image, one,
            "sh", "-c", "echo hello from a task; cat /proc/1/cgroup | grep -c pocketbox-ctr")
    assert r.stdout.splitlines()[0] == "hello from a task" and int(r.stdout.splitlines()[1]) >= 1
    name = f"svc-{runtime}"
    ctr("run", "-d", "--runc-binary", binary, "--cgroup", f"/pocketbox-ctr/{name}", image, name,
        "sh", "-c", "trap 'exit 5' TERM; while true; do sleep 0.1; done")
    assert "RUNNING" in ctr("task", "ls").stdout
    r = ctr("task", "exec", "--exec-id", "e1", name, "sh", "-c", "echo in the task; exit 6", check=False)
    assert r.stdout == "in the task\n" and r.returncode == 6
    ctr("task", "pause", name)
    assert "PAUSED" in ctr("task", "ls").stdout
    ctr("task", "resume", name)
    ctr("task", "kill", name)
    assert wait_for(lambda: "STOPPED" in ctr("task", "ls").stdout)
    ctr("task", "delete", name)
    ctr("container", "delete", name)
