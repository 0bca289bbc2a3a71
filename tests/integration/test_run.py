"""`pocketbox run` with real containers: what the process sees from inside, and what `run`
returns and leaves behind from outside."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path


from conftest import requires_root
from pocketbox.runtime.cgroups import detect

pytestmark = requires_root
CGROUP_MODE = detect()


def out(pb, *args, **kw) -> str:
    return pb("run", "--rm", *args, **kw).stdout


def inspect(pb, name) -> dict:
    return json.loads(pb("inspect", name).stdout)[0]


def test_exit_codes(pb, busybox):
    assert pb("run", "--rm", busybox, "true").returncode == 0
    pb("run", "--rm", busybox, "false", expect=1)
    pb("run", "--rm", busybox, "sh", "-c", "exit 32", expect=32)
    r = pb("run", "--rm", busybox, "nosuchcommand", expect=127)
    assert r.stderr.strip() == 'pocketbox: failed to start container: exec: "nosuchcommand": executable file not found in $PATH'
    r = pb("run", "--rm", busybox, "/etc", expect=126)
    assert "permission denied" in r.stderr
    r = pb("run", "--bogus-flag", busybox, expect=125)
    assert "no such option" in r.stderr.lower()
    r = pb("run", "--rm", "no-such-image-here", "--pull", "never", expect=125)
    r = pb("run", "--rm", "--pull", "never", "no-such-image-here", expect=125)
    assert "No such image" in r.stderr
    assert not list((pb.root / "containers").iterdir())


def test_death_by_signal_is_128_plus_n(pb, busybox):
    p = pb.popen("run", "--name", "victim", busybox, "sleep", "30", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _wait_running(pb, "victim")
    os.kill(inspect(pb, "victim")["State"]["Pid"], signal.SIGKILL)
    assert p.wait(10) == 137
    state = inspect(pb, "victim")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137


def _wait_running(pb, name, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = pb("inspect", name, expect=None)
        if r.returncode == 0 and json.loads(r.stdout)[0]["State"]["Status"] == "running":
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} did not start")


def test_isolation_seen_from_inside(pb, busybox, tmp_path):
    (tmp_path / "host-secret").write_text("x")
    script = ("echo pid=$$; echo host=$(hostname); cat /etc/hostname; echo env=$HOSTNAME; ls /sys/class/net; "
              "grep CapEff /proc/self/status; grep CapInh /proc/self/status; grep NoNewPrivs /proc/self/status; "
              f"ls {tmp_path} 2>&1; ps -o pid,comm")
    r = pb("run", "--name", "iso", busybox, "sh", "-c", script)
    cid = inspect(pb, "iso")["Id"]
    lines = r.stdout.splitlines()
    assert "pid=1" in lines
    assert f"host={cid[:12]}" in lines and cid[:12] in lines and f"env={cid[:12]}" in lines
    i = lines.index(f"env={cid[:12]}")
    assert lines[i + 1:i + 3] == ["eth0", "lo"]   # the default bridge network: its veth end and loopback
    assert "CapEff:\t00000000a80425fb" in lines
    assert "CapInh:\t0000000000000000" in lines
    assert "NoNewPrivs:\t0" in lines
    assert "No such file or directory" in r.stdout                # the host's files are not there
    procs = [line.split() for line in lines[lines.index("PID   COMMAND") + 1:]]
    assert [p[0] for p in procs] == ["1", str(len(procs))] or procs[0][0] == "1"
    pb("rm", "iso")


def test_confinement(pb, busybox):
    r = pb("run", "--rm", busybox, "sh", "-c",
           "mount -t proc proc /tmp && echo mounted-proc; "
           "mknod /tmp/blk b 7 0 && (head -c1 /tmp/blk >/dev/null 2>&1 && echo opened-block || echo block-refused); "
           "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo wrote-proc-sys; "
           "( [ -e /proc/sysrq-trigger ] && echo b > /proc/sysrq-trigger ) 2>/dev/null && echo wrote-sysrq; "
           "touch /sys/pbtest 2>/dev/null && echo wrote-sys; "
           "cat /proc/timer_list | wc -c; "
           "echo x > /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null && echo wrote-cgroup; "
           "echo done", expect=None)
    assert "done" in r.stdout
    for bad in ("mounted-proc", "opened-block", "wrote-proc-sys", "wrote-sysrq", "wrote-sys", "wrote-cgroup"):
        assert bad not in r.stdout, r.stdout
    if CGROUP_MODE != "v2":  # the v1 devices controller refuses the node; v2 needs eBPF (hardening issue)
        assert "block-refused" in r.stdout
    assert r.stdout.splitlines()[-2].strip() == "0"  # masked: /dev/null bound over it


def test_capability_flags(pb, busybox):
    cap = lambda *flags: out(pb, *flags, busybox, "grep", "CapEff", "/proc/self/status").split()[1]
    assert cap("--cap-drop", "ALL") == "0000000000000000"
    assert int(cap("--cap-add", "SYS_ADMIN"), 16) == 0xa80425fb | (1 << 21)
    assert int(cap("--cap-drop", "chown"), 16) == 0xa80425fb & ~1
    assert int(cap("--privileged"), 16) >= 0x1ffffffffff >> 2
    assert "NoNewPrivs:\t1" in out(pb, "--security-opt", "no-new-privileges", busybox, "cat", "/proc/self/status")
    r = pb("run", "--rm", "--cap-add", "NOT_A_CAP", busybox, "true", expect=125)
    assert "unknown capability" in r.stderr


def test_process_settings(pb, busybox, tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROM_FILE=yes\n\n")
    text = out(pb, "-e", "A=1", "--env-file", env_file, "-w", "/new/dir", busybox, "sh", "-c",
               "echo A=$A F=$FROM_FILE; pwd; echo $PATH; echo HOME=$HOME; echo TERM=${TERM:-unset}")
    assert "A=1 F=yes" in text and "/new/dir" in text
    assert "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" in text
    assert "HOME=/root" in text and "TERM=unset" in text
    assert out(pb, "-u", "nobody", busybox, "id").strip().startswith("uid=65534(nobody) gid=65534(nogroup)")
    assert out(pb, "-u", "1000:1000", busybox, "id", "-u").strip() == "1000"
    assert out(pb, "-u", "nobody", busybox, "grep", "CapEff", "/proc/self/status").split()[1] == "0000000000000000"
    r = pb("run", "--rm", "-u", "nosuchuser", busybox, "id", expect=125)
    assert "unable to find user nosuchuser" in r.stderr
    assert out(pb, "--entrypoint", "echo", busybox, "via", "entrypoint").strip() == "via entrypoint"
    groups = out(pb, "-u", "nobody", "--group-add", "tty", "--group-add", "1234", busybox, "id", "-G").split()
    assert groups == ["65534", "5", "1234"]
    assert "unable to find group nosuchgroup" in pb("run", "--rm", "--group-add", "nosuchgroup", busybox, "true",
                                                     expect=125).stderr
    assert out(pb, "--hostname", "myhost", busybox, "hostname").strip() == "myhost"
    assert out(pb, "--network", "host", busybox, "ls", "/sys/class/net").split() != ["lo"]
    assert out(pb, "--network", "none", busybox, "ls", "/sys/class/net").split() == ["lo"]


def test_stdin_and_attach(pb, busybox):
    assert pb("run", "--rm", "-i", busybox, "cat", input="piped\n").stdout == "piped\n"
    assert pb("run", "--rm", busybox, "cat", input="not read\n").stdout == ""
    r = pb("run", "--rm", "-a", "stderr", busybox, "sh", "-c", "echo out; echo err >&2")
    assert r.stdout == "" and r.stderr == "err\n"


def test_tty(pb, busybox):
    """-t gives a real pty from the container's devpts; the window size is copied."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 99, 0, 0))
    p = pb.popen("run", "--rm", "-it", busybox, "sh", "-c", "tty; stty size; echo TERM=$TERM",
                 stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    assert p.wait(20) == 0
    text = data.decode()
    assert "/dev/pts/0" in text and "33 99" in text and "TERM=xterm" in text


def test_read_only_and_binds(pb, busybox, tmp_path):
    r = pb("run", "--rm", "--read-only", busybox, "touch", "/x", expect=1)
    assert "Read-only file system" in r.stderr
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "from-host").write_text("hello")
    text = out(pb, "-v", f"{shared}:/data", busybox, "sh", "-c", "cat /data/from-host; echo back > /data/from-ctr")
    assert text == "hello"
    assert (shared / "from-ctr").read_text() == "back\n"
    r = pb("run", "--rm", "-v", f"{shared}:/data:ro", busybox, "touch", "/data/x", expect=1)
    assert "Read-only file system" in r.stderr
    made = tmp_path / "made" / "by-run"  # -v of a missing host directory: Docker makes it
    assert out(pb, "-v", f"{made}:/data", busybox, "test", "-d", "/data") == "" and made.is_dir()
    for bad, msg in [("rel/path:/data", "invalid characters"),
                     (f"{shared}:data", "must be absolute"), (f"{shared}:/a/../b", "'..'"),
                     (f"{shared}:/data:xx", "invalid mode")]:
        r = pb("run", "--rm", "-v", bad, busybox, "true", expect=125)
        assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not list((pb.root / "containers").iterdir())


def test_cgroup_limits(pb, busybox):
    if CGROUP_MODE == "v2":
        files = {"mem": "memory.max", "pids": "pids.max", "cpu": "cpu.max"}
        root = "/sys/fs/cgroup"
    else:
        files = {"mem": "memory/memory.limit_in_bytes", "pids": "pids/pids.max", "cpu": "cpu/cpu.cfs_quota_us"}
        root = "/sys/fs/cgroup"
    text = out(pb, "--memory", "32m", "--pids-limit", "10", "--cpus", "0.5", busybox, "sh", "-c",
               f"cat {root}/{files['mem']} {root}/{files['pids']} {root}/{files['cpu']}; cat /proc/self/cgroup")
    lines = text.splitlines()
    assert lines[0] == "33554432" and lines[1] == "10"
    assert lines[2] in ("50000", "50000 100000")
    assert all(line.endswith(":/") for line in lines[3:]), "the container sees its own cgroup namespace root"
    for bad, msg in [(["--memory", "1m"], "Minimum memory limit"), (["--cpus", "99"], "Range of CPUs"),
                     (["--memory-swap", "64m"], "always set the Memory limit"), (["--memory", "lots"], "invalid --memory")]:
        r = pb("run", "--rm", *bad, busybox, "true", expect=125)
        assert msg in r.stderr


def test_memory_hog_is_oom_killed(pb, busybox):
    r = pb("run", "--name", "hog", "--memory", "32m", "--memory-swap", "32m", busybox, "tail", "/dev/zero", expect=137)
    state = inspect(pb, "hog")["State"]
    assert state["OOMKilled"] is True and state["ExitCode"] == 137
    assert r.returncode == 137


def test_fork_bomb_stays_within_pids_limit(pb, busybox):
    """Each `echo` is a shell builtin (no fork); each `sleep &` is one more process."""
    r = pb("run", "--rm", "--pids-limit", "10", busybox, "sh", "-c",
           "for i in $(seq 30); do echo started $i; sleep 5 & done; wait", expect=None)
    assert "can't fork" in r.stderr
    started = max(int(line.split()[1]) for line in r.stdout.splitlines())
    assert 5 <= started <= 10  # the 10th echo runs; its sleep is the fork that fails (sh holds a pid)


def test_all_processes_are_in_the_container_cgroup(pb, busybox):
    p = pb.popen("run", "--name", "tree", busybox, "sh", "-c", "sleep 30 & sleep 30 & wait",
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_running(pb, "tree")
    info = inspect(pb, "tree")
    deadline = time.time() + 5
    while time.time() < deadline:
        path = next(iter(info["Cgroup"]["Paths"].values()))
        procs = Path(path, "cgroup.procs").read_text().split()
        if len(procs) == 3:
            break
        time.sleep(0.05)
    assert len(procs) == 3 and str(info["State"]["Pid"]) in procs
    pb("rm", "-f", "tree")
    p.wait(10)
    for path in info["Cgroup"]["Paths"].values():
        assert not os.path.exists(path)


def test_names_ps_inspect_rm(pb, busybox):
    pb("run", "--name", "first", busybox, "sh", "-c", "exit 3", expect=3)
    r = pb("run", "--name", "first", busybox, "true", expect=125)
    assert 'Conflict. The container name "/first" is already in use by container' in r.stderr
    pb("run", busybox, "true")
    lines = pb("ps", "-a").stdout.splitlines()
    assert [c.strip() for c in lines[0].split("   ") if c.strip()] == \
        ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    first = next(line for line in lines if line.endswith("first"))
    assert "Exited (3)" in first and busybox in first and '"sh -c \'exit 3\'"' in first
    auto = [line for line in lines[1:] if not line.endswith("first")][0].split()[-1]
    assert "_" in auto  # adjective_surname
    assert pb("ps").stdout.splitlines()[1:] == []
    assert len(pb("ps", "-aq").stdout.split()) == 2
    assert pb("ps", "-a", "--no-trunc", "-q", "-f", "name=first").stdout.strip() == inspect(pb, "first")["Id"]
    info = inspect(pb, "first")
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 3
    assert info["Config"]["Cmd"] == ["sh", "-c", "exit 3"] and info["HostConfig"]["NetworkMode"] == "bridge"
    assert os.path.isfile(info["RecordPath"]) and info["GraphDriver"]["Data"]["UpperDir"].startswith(str(pb.root))
    assert info["Cgroup"]["Mode"] == CGROUP_MODE
    assert pb("rm", "first").stdout.strip() == "first"
    pb("rm", "first", expect=1)
    r = pb("container", "prune", "-f")
    assert "Deleted Containers:" in r.stdout
    assert pb("ps", "-aq").stdout.strip() == ""
    assert not list((pb.root / "names").iterdir())


def test_rm_running_needs_force(pb, busybox):
    p = pb.popen("run", "--name", "busy", busybox, "sleep", "30", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_running(pb, "busy")
    assert "Up " in pb("ps").stdout
    r = pb("rm", "busy", expect=1)
    assert "You cannot remove a running container" in r.stderr
    pb("rm", "-f", "busy")
    assert p.wait(10) == 137


def test_name_race(pb, busybox):
    procs = [pb.popen("run", "--name", "racer", busybox, "true", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(6)]
    codes = [p.wait(60) for p in procs]
    assert codes.count(0) == 1 and codes.count(125) == 5
    assert len(pb("ps", "-aq", "-f", "name=racer").stdout.split()) == 1


def test_rm_flag_cleans_up_even_on_failure_and_ctrl_c(pb, busybox):
    pb("run", "--rm", busybox, "nosuchcommand", expect=127)
    p = pb.popen("run", "--rm", "--name", "ctrlc", busybox, "sh", "-c", 'trap "exit 130" INT; sleep 30 & wait',
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_running(pb, "ctrlc")
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    assert p.wait(10) == 130
    assert not list((pb.root / "containers").iterdir())
    assert not list((pb.root / "names").iterdir())


def test_killed_pocketbox_is_reconciled(pb, busybox):
    p = pb.popen("run", "--name", "orphan", busybox, "sleep", "30", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_running(pb, "orphan")
    pid = inspect(pb, "orphan")["State"]["Pid"]
    p.kill()  # pocketbox dies; the container goes on
    p.wait()
    assert "Up " in pb("ps").stdout
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 5
    while os.path.exists(f"/proc/{pid}") and time.time() < deadline:
        time.sleep(0.05)
    state = inspect(pb, "orphan")["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 255 and state["Error"]
    assert "Exited (255)" in pb("ps", "-a").stdout
    pb("rm", "orphan")


def test_no_leaks_after_200_runs(pb, busybox):
    for _ in range(200):
        pb("run", "--rm", busybox, "true")
    assert not list((pb.root / "containers").iterdir())
    with open("/proc/self/mountinfo") as f:
        assert str(pb.root) not in f.read()


def test_debian_image(pb, debian_ref):
    ref = debian_ref
    r = pb("run", "--rm", ref, "sh", "-c", "cat /etc/debian_version; id -un; ls /usr/bin/apt")
    lines = r.stdout.split()
    assert lines[0].startswith("12.") and lines[1] == "root" and lines[2] == "/usr/bin/apt"
    assert "Unable to find image" in r.stderr and "Pull complete" in r.stderr

