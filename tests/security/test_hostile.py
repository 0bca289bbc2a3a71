"""Hostile images and containers: what an attacker's image tries against the host, and the faults
an unlucky user meets. Each test fails on a runtime that has the defect it names."""
import errno
import hashlib
import json
import os
import subprocess
import sys
import time

import pytest

from conftest import requires_root

pytestmark = requires_root

PACKAGE = os.path.dirname(__import__("pocketbox").__file__)


def host_binaries() -> dict[str, str]:
    """sha256 of every host program a container could have been handed: the interpreter and
    pocketbox's own programs."""
    paths = {os.path.realpath(sys.executable), os.path.realpath("/usr/bin/python3"),
             os.path.join(PACKAGE, "pocketbox-monitor"), os.path.join(PACKAGE, "pocketbox-exec")}
    out = {}
    for p in sorted(paths):
        with open(p, "rb") as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


# A script whose interpreter line names /proc/self/exe: the kernel resolves it in the process that
# calls execve. Were that the runtime's Python, this Python code would run and keep the host's
# interpreter open.
SELF_EXE_SCRIPT = ("#!/proc/self/exe\n"
                   "import os\n"
                   "open('/pwned', 'w').write(os.readlink('/proc/self/exe'))\n"
                   "fd = os.open('/proc/self/exe', os.O_RDONLY)\n"
                   "os.execv('/bin/sh', ['sh', '-c', 'while ! echo x >> /proc/self/fd/%d; do sleep 0.1; done' % fd])\n")


@pytest.fixture
def self_exe_image(make_image):
    return make_image("hostile-selfexe", [("evil", "file", SELF_EXE_SCRIPT, 0o755)])


def test_proc_self_exe_never_reaches_a_host_binary(pb, self_exe_image):
    before = host_binaries()
    r = pb("run", "--rm", "--network", "none", self_exe_image, "/proc/self/exe", "--version", expect=None)
    assert r.returncode == 126 and "Python" not in r.stdout + r.stderr, r
    assert "pocketbox-exec" in r.stderr
    r = pb("run", "--rm", "--network", "none", self_exe_image, "/evil", expect=None)
    assert r.returncode == 126 and "Python" not in r.stdout + r.stderr, r
    r = pb("run", "--rm", "--network", "none", "--entrypoint", "/proc/self/exe", self_exe_image, expect=None)
    assert r.returncode == 126, r
    # exec: the same through setns, while a process in the container watches every /proc/N/exe
    # and tries to write to each
    pb("run", "-d", "--name", "watch", "--network", "none", self_exe_image, "sh", "-c",
       "while :; do for p in /proc/[0-9]*; do l=$(readlink $p/exe) && echo \"$l\" >> /seen; "
       "{ echo x >> $p/exe; } 2>/dev/null && echo \"$l\" >> /wrote; done; done")
    for _ in range(15):
        assert pb("exec", "watch", "/evil", expect=None).returncode == 126
        assert pb("exec", "watch", "/proc/self/exe", expect=None).returncode == 126
        pb("exec", "watch", "true")
    time.sleep(0.5)
    seen = set(pb("exec", "watch", "cat", "/seen").stdout.split("\n"))
    wrote = pb("exec", "watch", "sh", "-c", "cat /wrote 2>/dev/null; ls /pwned 2>&1", expect=None).stdout
    assert "No such file" in wrote and "/pwned" not in wrote.replace("ls: /pwned", "")
    assert not [line for line in wrote.splitlines() if not line.startswith("ls:")], wrote
    outside = {s for s in seen if s and not s.startswith(("/bin/", "/memfd:pocketbox-exec"))}
    assert not outside, f"a container process saw a host binary: {outside}"
    pb("rm", "-f", "watch")
    assert host_binaries() == before


def test_the_exec_helper_is_sealed():
    from pocketbox.runtime.init import sealed_exec_helper

    fd = sealed_exec_helper()
    try:
        w = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY)
        with pytest.raises(PermissionError):
            os.write(w, b"\x7fELF overwritten")
        os.close(w)
        with pytest.raises(PermissionError):
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)


def test_signals_are_reset_for_the_command(pb, busybox):
    """Python ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored across execve."""
    for args in (["run", "--rm", "--network", "none", busybox], ["exec", "sig"]):
        if args[0] == "exec":
            pb("run", "-d", "--name", "sig", "--network", "none", busybox, "sleep", "60")
        r = pb(*args, "grep", "-E", "Sig(Ign|Blk)", "/proc/self/status")
        assert r.stdout.split() == ["SigBlk:", "0000000000000000", "SigIgn:", "0000000000000000"], r.stdout
        r = pb(*args, "sh", "-c", "yes | head -n 2", timeout=20)
        assert r.stdout == "y\ny\n"
    pb("rm", "-f", "sig")


# --- paths built from image or container content stay inside it ---------------------------------

HOST_PASSWD = "/var/lib/pocketbox-tests/hostile-passwd"  # a file only the host has
HOST_DEV = "/var/lib/pocketbox-tests/hostile-dev"


@pytest.fixture
def host_only_files():
    os.makedirs(HOST_DEV, exist_ok=True)
    with open(HOST_PASSWD, "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\nhostonly:x:4343:4343::/:/bin/sh\n")
    yield
    os.unlink(HOST_PASSWD)
    assert os.listdir(HOST_DEV) == [], "device nodes were made on the host"
    os.rmdir(HOST_DEV)


def test_user_lookup_never_reads_host_files(pb, make_image, host_only_files):
    image = make_image("hostile-passwd-link", [("etc", "dir", None), ("etc/passwd", "symlink", HOST_PASSWD)])
    r = pb("run", "--rm", "--network", "none", "-u", "hostonly", image, "id", "-u", expect=None)
    assert r.returncode == 125 and "unable to find user hostonly" in r.stderr, r
    pb("run", "-d", "--name", "pw", "--network", "none", image, "sleep", "60")
    r = pb("exec", "-u", "hostonly", "pw", "id", "-u", expect=None)
    assert r.returncode != 0 and "4343" not in r.stdout, r
    pb("rm", "-f", "pw")
    # a link inside the image is followed inside the image
    inside = make_image("etc-elsewhere", [("usr", "dir", None), ("usr/etc", "dir", None),
                                          ("usr/etc/passwd", "file", "root:x:0:0::/root:/bin/sh\nimg:x:4242:4242::/:/bin/sh\n"),
                                          ("usr/etc/group", "file", "root:x:0:\n"), ("etc", "symlink", "/usr/etc")])
    assert pb("run", "--rm", "--network", "none", "-u", "img", inside, "id", "-u").stdout == "4242\n"


def test_device_nodes_are_made_inside_the_container(pb, make_image, host_only_files):
    image = make_image("hostile-dev-link", [("dev", "symlink", HOST_DEV)])
    r = pb("run", "--rm", "--network", "none", image, "sh", "-c", "test -c /dev/null && echo ok", expect=None)
    assert os.listdir(HOST_DEV) == []
    assert r.stdout == "ok\n" or r.returncode == 125, r


def test_copy_up_never_follows_a_planted_symlink(tmp_path):
    """A volume another container writes to holds a link to a host directory where the image has a
    directory: the copy stays in the volume and the host directory keeps its mode and contents."""
    from pocketbox.runtime.rootfs import copy_tree_fd

    host = tmp_path / "host"
    host.mkdir(mode=0o700)
    image, volume = tmp_path / "image", tmp_path / "volume"
    (image / "x").mkdir(parents=True)
    (image / "x").chmod(0o777)
    (image / "x" / "f").write_text("from the image")
    (image / "y").write_text("y")
    volume.mkdir()
    (volume / "x").symlink_to(host)
    (volume / "y").symlink_to(host / "planted")
    src = os.open(image, os.O_RDONLY | os.O_DIRECTORY)
    dst = os.open(volume, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(OSError):
            copy_tree_fd(src, dst)
    finally:
        os.close(src)
        os.close(dst)
    assert os.listdir(host) == [] and (host.stat().st_mode & 0o777) == 0o700


def test_copy_up_still_copies(pb, make_image):
    image = make_image("copyup-tree", [("data", "dir", None), ("data/sub", "dir", None, 0o750),
                                       ("data/sub/f", "file", "payload", 0o640), ("data/l", "symlink", "sub/f"),
                                       ("data/sparse", "file", "")])
    out = pb("run", "--rm", "--network", "none", "-v", "cu:/data", image, "sh", "-c",
             "stat -c '%n %a %F' /data/sub /data/sub/f /data/l; cat /data/l").stdout
    assert out == "/data/sub 750 directory\n/data/sub/f 640 regular file\n/data/l 777 symbolic link\npayload", out
    pb("volume", "rm", "cu")


def test_workdir_in_a_bind_mount_is_not_made_by_host_root(pb, make_image, tmp_path):
    host = tmp_path / "bound"
    host.mkdir(mode=0o755)
    image = make_image("workdir-in-bind", config={"WorkingDir": "/mnt/wd/sub"})
    r = pb("run", "--rm", "--network", "none", "--userns", "auto", "-v", f"{host}:/mnt/wd", image, "pwd", expect=None)
    made = host / "sub"
    assert not made.exists() or made.stat().st_uid != 0, "the host's root made the directory"
    assert r.returncode in (0, 126), r


@pytest.mark.parametrize("user", ["4294967295", "0:4294967295", "2147483648", "hugeuid"])
def test_ids_out_of_range_are_refused(pb, make_image, user):
    image = make_image("huge-uid", [("etc", "dir", None),
                                    ("etc/passwd", "file", "root:x:0:0::/:/bin/sh\nhugeuid:x:4294967295:0::/:/bin/sh\n")])
    r = pb("run", "--rm", "--network", "none", "-u", user, image, "id", expect=None)
    assert r.returncode == 125 and "uids and gids must be in range 0-2147483647" in r.stderr, r
    assert "uid=0" not in r.stdout


# --- fail closed -------------------------------------------------------------------------------

def test_a_damaged_seccomp_cache_is_never_loaded(pb, busybox):
    def seccomp_mode() -> str:
        return pb("run", "--rm", "--network", "none", busybox, "grep", "Seccomp:", "/proc/self/status").stdout.split()[1]

    assert seccomp_mode() == "2"
    cache = pb.root / "cache" / "seccomp"
    files = list(cache.glob("*.bpf"))
    assert files
    for damage in (b"", os.urandom(64), b"\x06\x00\x00\x00\x00\x00\xff\x7f" * 4):  # empty, junk, "allow all"
        for f in files:
            f.write_bytes(damage)
        assert seccomp_mode() == "2"
        r = pb("run", "--rm", "--network", "none", busybox, "unshare", "-U", "true", expect=None)
        assert r.returncode != 0  # the profile's rules are in force, not just some filter


def test_privileged_says_what_it_gives(pb):
    text = " ".join(pb("run", "--help").stdout.split())
    assert "every capability" in text and "no seccomp" in text and "core_pattern" in text


def test_cap_sys_admin_cannot_reach_release_agent(pb, busybox):
    """With CAP_SYS_ADMIN a container may mount a cgroup v1 hierarchy: it must see only its own
    cgroup there (it is placed in every hierarchy), never the root with release_agent."""
    from pocketbox.runtime.cgroups import detect, v1_hierarchies

    if detect() == "v2":
        pytest.skip("no cgroup v1 hierarchies on this host")
    script = ""
    for h in v1_hierarchies():
        opts = "none,name=systemd" if h == "systemd" else h
        script += (f"mkdir -p /m/{h}; mount -t cgroup -o {opts} cgroup /m/{h} 2>/dev/null && echo mounted {h}; "
                   f"test -e /m/{h}/release_agent && echo REACHED {h}; ")
    r = pb("run", "--rm", "--network", "none", "--cap-add", "SYS_ADMIN", busybox, "sh", "-c", script, expect=None)
    assert "mounted" in r.stdout and "REACHED" not in r.stdout, r.stdout


def test_the_state_root_is_closed_to_other_users(pb, busybox):
    assert pb.root.stat().st_mode & 0o7777 == 0o700
    pb.root.chmod(0o755)  # made by an older version: closed again by the next command
    pb("images")
    assert pb.root.stat().st_mode & 0o7777 == 0o700


@pytest.mark.parametrize("args, flag", [
    (["--memory", "nan"], "--memory"), (["--memory", "inf"], "--memory"), (["--memory", "1e30g"], "--memory"),
    (["--cpus", "nan"], "--cpus"), (["--cpus", "inf"], "--cpus"), (["--cpu-shares", "-5"], "--cpu-shares"),
    (["--pids-limit", str(2**64)], "--pids-limit"), (["--env-file", "BINARY"], "--env-file"),
    (["--memory-swap", "nan", "--memory", "10m"], "--memory-swap"),
])
def test_bad_values_name_their_flag(pb, busybox, tmp_path, args, flag):
    binary = tmp_path / "env.bin"
    binary.write_bytes(b"A=\xff\xfe\x00junk\n")
    args = [str(binary) if a == "BINARY" else a for a in args]
    r = pb("run", "--rm", "--name", "bad", "--network", "none", *args, busybox, "true", expect=None)
    assert r.returncode == 125 and flag in r.stderr, r
    assert len(r.stderr.strip().splitlines()) == 1 and "internal error" not in r.stderr, r.stderr
    assert pb("ps", "-a", "-q").stdout == ""


def test_an_image_stop_signal_that_is_no_signal_is_refused(pb, make_image):
    image = make_image("bad-stopsignal", config={"StopSignal": "SIGNOPE"})
    r = pb("run", "-d", "--name", "nope", "--network", "none", image, "sleep", "60", expect=None)
    assert r.returncode == 125 and "StopSignal" in r.stderr, r
    assert pb("ps", "-a", "-q").stdout == ""


# --- the supervisor and logs ---------------------------------------------------------------------

def log_lines(pb, cid: str) -> list[dict]:
    import json

    path = pb.root / "containers" / cid / f"{cid}-json.log"
    return [json.loads(line) for line in path.read_bytes().splitlines()]  # every line valid JSON


def test_logs_survive_bytes_that_are_not_utf8(pb, busybox):
    cid = pb("run", "-d", "--network", "none", busybox, "sh", "-c",
             r"printf 'before\n\377\376 raw\n'; i=0; while [ $i -lt 9000 ]; do printf '\303\251'; i=$((i+1)); done;"
             r" echo; echo after").stdout.strip()
    pb("wait", cid)
    out = pb("logs", cid).stdout
    assert out.startswith("before\n\ufffd\ufffd raw\n") and out.endswith("\nafter\n"), out[:80]
    assert "\u00e9" * 9000 in out  # a long line cut between characters, never inside one
    entries = log_lines(pb, cid)
    assert max(len(e["log"].encode()) for e in entries) <= 16 * 1024 + 8
    # a damaged line (as an older version wrote raw bytes) is read tolerantly, the rest still shown
    path = pb.root / "containers" / cid / f"{cid}-json.log"
    with open(path, "ab") as f:
        f.write(b'{"log":"old \xff\\n","stream":"stdout","time":"2026-01-01T00:00:00Z"}\nnot json at all\n')
    assert pb("logs", cid).stdout.endswith("after\nold \ufffd\n")
    pb("rm", cid)


def test_foreground_output_is_logged(pb, busybox):
    r = pb("run", "--name", "fg", "--network", "none", busybox, "sh", "-c", "echo to-out; echo to-err >&2")
    assert r.stdout == "to-out\n" and r.stderr == "to-err\n"
    logs = pb("logs", "fg")
    assert logs.stdout == "to-out\n" and logs.stderr == "to-err\n"
    pb("rm", "fg")


def attach_socket(pb, cid: str):
    import socket

    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    d = os.open(pb.root / "containers" / cid, os.O_PATH)
    try:
        s.connect(f"/proc/self/fd/{d}/attach.sock")
    finally:
        os.close(d)
    return s


def test_the_monitor_survives_hostile_attach_clients(pb, busybox):
    from pocketbox import streams_mux as mux

    cid = pb("run", "-d", "-i", "--network", "none", busybox, "sh", "-c",
             "sleep 2; i=0; while [ $i -lt 30 ]; do echo tick $i; i=$((i+1)); sleep 0.1; done").stdout.strip()
    huge = attach_socket(pb, cid)
    huge.sendall(b"\x00\x00\x00\x00\xff\xff\xff\xf0" + b"x" * 1000)  # a frame "of 4 GiB"
    flood = attach_socket(pb, cid)  # 4 MB of stdin to a container that never reads it
    flood.setblocking(False)
    pending = memoryview(mux.frame(mux.STDIN, b"y" * 65536) * 64)
    deadline = time.monotonic() + 5
    while pending and time.monotonic() < deadline:
        try:
            pending = pending[flood.send(pending):]
        except BlockingIOError:
            time.sleep(0.01)
    slow = attach_socket(pb, cid)  # a client that never reads what it is sent
    r = pb("wait", cid, timeout=60)
    assert r.stdout.strip() == "0"
    out = pb("logs", cid).stdout
    assert "tick 0\n" in out and "tick 29\n" in out
    for s in (huge, flood, slow):
        s.close()
    pb("rm", cid)


# --- faults and disk -----------------------------------------------------------------------------

@pytest.fixture
def small_root(pb):
    """A 48 MiB filesystem as the state root."""
    import subprocess

    pb.root.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=700", "tmpfs", str(pb.root)], check=True)
    yield pb
    for rec in pb.root.glob("containers/*/container.json"):
        pb("rm", "-f", rec.parent.name, expect=None)
    subprocess.run(["umount", "-l", str(pb.root)], check=True)


def used_kib(path) -> int:
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def test_sparse_layers_stay_sparse_and_a_full_disk_is_survived(small_root, make_image):
    import ociimage

    pb = small_root
    zeros = make_image("sparse-zeros", [("zeros", "file", bytes(512 << 20))])
    pb("pull", "-q", zeros)
    assert used_kib(pb.root) < 24 * 1024
    assert pb("run", "--rm", "--network", "none", zeros, "stat", "-c", "%s", "/zeros").stdout == f"{512 << 20}\n"
    # layers that cannot fit: refused before anything is fetched when their size says so, stopped
    # cleanly when they unpack to more than that; a clear error, nothing left, the store still works
    noise = make_image("incompressible", layers=[ociimage.tar_entries([("noise", "file", os.urandom(60 << 20))])])
    pattern = make_image("expands", [("pattern", "file", b"ab" * (40 << 20))])
    before = used_kib(pb.root)
    for image, message in ((noise, "not enough disk space"), (pattern, "no space left")):
        r = pb("pull", "-q", image, expect=None)
        assert r.returncode == 1 and message in r.stderr and "Traceback" not in r.stderr, r
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert os.listdir(pb.root / "tmp") == [] and used_kib(pb.root) <= before + 64
    # a container that fills the disk: stop and rm still work
    pb("run", "-d", "--name", "filler", "--network", "none", zeros, "sh", "-c", "cat /dev/urandom > /fill; sleep 60")
    deadline = time.monotonic() + 20
    while os.statvfs(pb.root).f_bavail > 16 and time.monotonic() < deadline:
        time.sleep(0.1)
    pb("stop", "-t", "1", "filler")
    pb("rm", "-f", "filler")
    assert pb("ps", "-a", "-q").stdout == ""
    pb("system", "prune", "-a", "-f")


def test_what_killed_commands_leave_is_recovered(pb, busybox):
    import random
    import signal

    for _ in range(8):  # kill -9 of `run --name` at a moment chosen at random
        p = pb.popen("run", "--name", "kk", "--network", "none", busybox, "true",
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.0, 0.12))
        p.send_signal(signal.SIGKILL)
        p.wait()
        pb("rm", "-f", "kk", expect=None)
    pb("run", "--rm", "--name", "kk", "--network", "none", busybox, "true")
    # what such a kill can leave: a name no container holds, a container directory with no
    # record, and a big staging file in tmp/
    (pb.root / "names" / "orphan").write_text("f" * 64)
    (pb.root / "containers" / ("e" * 64)).mkdir(parents=True)
    (pb.root / "tmp").mkdir(exist_ok=True)
    (pb.root / "tmp" / "newlayer.99999999.abcd").write_bytes(b"x" * 4096)
    r = pb("rm", "-f", "orphan", expect=None)
    assert "No such container" in r.stderr
    pb("run", "--rm", "--name", "orphan", "--network", "none", busybox, "true")
    pb("system", "prune", "-f")
    assert not (pb.root / "containers" / ("e" * 64)).exists()
    assert os.listdir(pb.root / "tmp") == []
    assert [p.name for p in (pb.root / "containers").iterdir()] == []
    assert [n for n in os.listdir(pb.root / "names") if not n.startswith(".")] == []


def test_a_cgroup_the_kernel_refuses_is_a_clear_error(tmp_path):
    """A value the kernel refuses (a CFS quota below its 1 ms minimum) is reported as such at once,
    not retried as if another container had removed the shared parent, and nothing is left."""
    import json

    from pocketbox.runtime.cgroups import CGROUP_ROOT
    from pocketbox.runtime.run import Container, StartError

    (tmp_path / "rootfs").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({
        "ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "rootfs"},
        "linux": {"resources": {"cpu": {"quota": 1, "period": 100000}}}}))
    cid = "pbtest-refused-" + os.urandom(4).hex()
    c = Container(str(tmp_path), cid)
    started = time.monotonic()
    with pytest.raises(StartError, match="cgroup"):
        c.start()
    assert time.monotonic() - started < 2
    assert not [p for p in c.cgroup.paths.values() if os.path.exists(p)]
    assert not any(os.path.exists(f"{CGROUP_ROOT}/{h}/pocketbox/{cid}") for h in os.listdir(CGROUP_ROOT))


def test_start_racing_rm_leaves_one_state(pb, busybox):
    """`start X` and `rm -f X` at once: either X is gone with everything it had, or it runs."""
    import subprocess

    for _ in range(6):
        pb("run", "-d", "--name", "race", "--network", "none", busybox, "sleep", "60")
        pb("stop", "-t", "0", "race")
        a = pb.popen("start", "race", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        b = pb.popen("rm", "-f", "race", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        outs = [p.communicate(timeout=60) for p in (a, b)]
        assert b.returncode == 0, outs
        assert not any("Traceback" in o + e for o, e in outs), outs
        assert a.returncode == 0 or "No such container" in outs[0][1], outs
        left = pb("ps", "-a", "-q").stdout.split()
        if left:  # the start came after the rm had finished? then there is nothing to start
            pb("rm", "-f", "race")
        left_over = [str(p) for p in (pb.root / "containers").rglob("*")] if (pb.root / "containers").exists() else []
        assert left_over == [], (left_over, outs)


def killed_at_random(pb, *args, times: int = 4, longest: float = 0.4) -> None:
    import random
    import signal
    import subprocess

    for _ in range(times):
        p = pb.popen(*args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.0, longest))
        p.send_signal(signal.SIGKILL)
        p.wait()


def test_kill_9_of_pull_commit_export_stop_is_recovered(pb, test_images, busybox):
    big = test_images.ref("big")
    killed_at_random(pb, "pull", "-q", big)
    pb("pull", "-q", big)
    assert pb("run", "--rm", "--network", "none", big, "test", "-f", "/big").returncode == 0
    pb("run", "-d", "--name", "src", "--network", "none", busybox, "sh", "-c",
       "head -c 8000000 /dev/urandom > /payload; sleep 60")
    killed_at_random(pb, "commit", "src", "snap:1")
    killed_at_random(pb, "export", "src")
    killed_at_random(pb, "stop", "-t", "1", "src", times=1, longest=0.3)
    pb("commit", "src", "snap:2")
    assert pb("run", "--rm", "--network", "none", "snap:2", "test", "-s", "/payload").returncode == 0
    pb("rm", "-f", "src")
    pb("system", "prune", "-f")
    assert os.listdir(pb.root / "tmp") == []
    assert pb("ps", "-a", "-q").stdout == ""


@pytest.mark.parametrize("config, word", [
    ({"Healthcheck": {"Test": "rm -rf /"}}, "HEALTHCHECK"),
    ({"Healthcheck": {"Test": ["CMD-SHELL"]}}, "HEALTHCHECK"),
    ({"Healthcheck": {"Test": ["CMD", "true"], "Interval": -5}}, "HEALTHCHECK Interval"),
    ({"ExposedPorts": ["80/tcp"]}, "ExposedPorts"),
    ({"Labels": ["a=b"]}, "Labels"),
    ({"Labels": {"a": 1}}, "Labels"),
])
def test_malformed_image_configs_are_refused_cleanly(pb, make_image, config, word):
    """An image config of the wrong shape is the image maker's mistake (or attack): one line, 125,
    no container left."""
    image = make_image(f"badconfig-{abs(hash(json.dumps(config, sort_keys=True))) % 10**8}", config=config)
    pb("pull", "-q", image)
    r = pb("run", "--rm", "--network", "none", image, "true", expect=125)
    assert word in r.stderr and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert pb("ps", "-aq").stdout == ""


def test_build_writes_and_reads_inside_the_image_only(pb, make_image, tmp_path):
    """COPY, WORKDIR and COPY --from resolve the image's links inside the image's root: a base image
    whose directories point at host paths gets the files itself, and gives nothing of the host's."""
    host_dir = tmp_path / "host-dir"
    host_dir.mkdir()
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    image = make_image("hostile-build-links", [("dest", "symlink", str(host_dir)),
                                               ("up", "symlink", "../../../../../../../../" + str(host_dir)),
                                               ("secret", "symlink", str(secret))])
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "f").write_text("from the context\n")
    (ctx / "Dockerfile").write_text(f"FROM {image}\nCOPY f /dest/\nWORKDIR /up/made\nCOPY f ./\n"
                                    f"COPY --from={image} /secret /copied\n")
    r = pb("build", "-t", "escaped", "--network", "none", ctx, expect=None)
    assert os.listdir(host_dir) == [], "a build wrote through the image's links onto the host"
    assert "host only" not in r.stdout + r.stderr
    assert r.returncode == 1 and "COPY failed" in r.stderr, r  # /secret names a file the image does not have
    (ctx / "Dockerfile").write_text(f"FROM {image}\nCOPY f /dest/\nWORKDIR /up/made\nCOPY f ./\n")
    pb("build", "-t", "escaped", "--network", "none", ctx)
    assert os.listdir(host_dir) == []
    inside = pb("run", "--rm", "--network", "none", "escaped", "cat", f"{host_dir}/f", f"{host_dir}/made/f").stdout
    assert inside == "from the context\n" * 2
