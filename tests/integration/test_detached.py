"""Detached containers: the supervisor, logs, stop/start/restart/kill/wait, pause, attach, exec."""
import json
import os
import pty
import select
import signal
import subprocess
import time
from pathlib import Path


from conftest import pocketbox_argv, requires_root

pytestmark = requires_root


def inspect(pb, name) -> dict:
    return json.loads(pb("inspect", name).stdout)[0]


def state(pb, name) -> dict:
    return inspect(pb, name)["State"]


def until(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("timed out")


class Terminal:
    """A pocketbox command on a pseudo-terminal we hold the other end of."""

    def __init__(self, pb, *args):
        self.master, slave = pty.openpty()
        env = {**os.environ, "POCKETBOX_ROOT": str(pb.root)}
        self.proc = subprocess.Popen(pocketbox_argv() + list(args), stdin=slave, stdout=slave, stderr=slave,
                                     env=env, start_new_session=True)
        os.close(slave)
        self.out = b""

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def expect(self, text: str, timeout=10.0) -> None:
        deadline = time.time() + timeout
        while text.encode() not in self.out:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError(f"did not see {text!r} in {self.out!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.out += os.read(self.master, 4096)
                except OSError:
                    break

    def wait(self, timeout=10.0) -> int:
        code = self.proc.wait(timeout)
        os.close(self.master)
        return code


def test_run_detached_logs_and_stop(pb, busybox):
    r = pb("run", "-d", "--name", "ticker", busybox, "sh", "-c",
           'trap "echo bye; exit 3" TERM; i=0; while true; do echo out $i; echo err $i >&2; i=$((i+1)); sleep 0.2; done')
    cid = r.stdout.strip()
    assert len(cid) == 64 and inspect(pb, "ticker")["Id"] == cid
    assert state(pb, "ticker")["Status"] == "running"   # the CLI has exited, the container goes on
    until(lambda: "out 3" in pb("logs", "ticker").stdout)
    logs = pb("logs", "ticker")
    assert "out 0\n" in logs.stdout and "err 0" not in logs.stdout
    assert "err 0\n" in logs.stderr and "out 0" not in logs.stderr
    r = pb("logs", "--tail", "2", "-t", "ticker")
    tail = r.stdout.splitlines() + r.stderr.splitlines()
    assert len(tail) == 2 and all("T" in line.split()[0] and line.endswith(line.split()[-1]) for line in tail)
    assert {line.split()[1] for line in tail} == {"out", "err"}
    assert pb("logs", "--since", "1h", "ticker").stdout.startswith("out 0")
    assert pb("logs", "--since", "2999-01-01T00:00:00Z", "ticker").stdout == ""
    log_file = Path(inspect(pb, "ticker")["BundlePath"]) / f"{cid}-json.log"
    first = json.loads(log_file.read_text().splitlines()[0])
    assert set(first) == {"log", "stream", "time"}
    started = time.time()
    assert pb("stop", "ticker").stdout.strip() == "ticker"
    assert time.time() - started < 5
    st = state(pb, "ticker")
    assert st["Status"] == "exited" and st["ExitCode"] == 3
    assert "bye" in pb("logs", "ticker").stdout
    assert pb("wait", "ticker").stdout.strip() == "3"


def test_stop_kills_after_the_timeout_and_leaves_nothing(pb, busybox):
    pb("run", "-d", "--name", "stubborn", busybox, "sh", "-c", "sleep 1000 & sleep 1000")
    info = inspect(pb, "stubborn")
    started = time.time()
    pb("stop", "-t", "1", "stubborn")   # sleep as PID 1 ignores SIGTERM: SIGKILL after 1 s
    assert 0.9 < time.time() - started < 6
    assert state(pb, "stubborn")["ExitCode"] == 137
    for path in info["Cgroup"]["Paths"].values():
        assert not os.path.exists(path)
    assert "Exited (137)" in pb("ps", "-a").stdout


def test_kill_accepts_numbers_and_names(pb, busybox):
    for sig, code in (("9", 137), ("KILL", 137), ("SIGKILL", 137), ("TERM", 143), ("15", 143)):
        pb("run", "-d", "--name", "kk", busybox, "sh", "-c", 'trap "exit 143" TERM; sleep 100 & wait')
        assert pb("kill", "-s", sig, "kk").stdout.strip() == "kk"
        assert pb("wait", "kk").stdout.strip() == str(code)
        pb("rm", "kk")
    r = pb("kill", "nosuch", expect=1)
    assert "No such container" in r.stderr
    pb("run", "--name", "done", busybox, "true")
    assert "is not running" in pb("kill", "done", expect=1).stderr
    assert "invalid signal" in pb("kill", "-s", "NOPE", "done", expect=1).stderr


def test_start_keeps_the_filesystem_and_attach_returns_the_code(pb, busybox):
    pb("run", "--name", "keeper", busybox, "sh", "-c", "echo first >> /state; exit 4", expect=4)
    r = pb("start", "-a", "keeper", expect=4)
    assert r.stdout == ""  # the same command ran again: it wrote, it did not print
    pb("rm", "keeper")
    pb("run", "--name", "counter", busybox, "sh", "-c", "echo run >> /runs; cat /runs | wc -l")
    assert pb("start", "-a", "counter").stdout.strip() == "2"
    assert pb("start", "counter").stdout.strip() == "counter"
    until(lambda: state(pb, "counter")["Status"] == "exited")
    assert pb("start", "-a", "counter").stdout.strip() == "4"


def test_restart(pb, busybox):
    pb("run", "-d", "--name", "again", busybox, "sh", "-c", 'trap "exit 0" TERM; sleep 100 & wait')
    pid = state(pb, "again")["Pid"]
    pb("restart", "-t", "5", "again")
    st = state(pb, "again")
    assert st["Status"] == "running" and st["Pid"] != pid
    pb("rm", "-f", "again")


def test_pause_and_unpause(pb, busybox):
    pb("run", "-d", "--name", "frozen", busybox, "sh", "-c", "while true; do echo x >> /ticks; sleep 0.05; done")
    ticks = Path(inspect(pb, "frozen")["GraphDriver"]["Data"]["UpperDir"]) / "ticks"
    until(lambda: ticks.exists())
    pb("pause", "frozen")
    assert state(pb, "frozen")["Status"] == "paused"
    assert "(Paused)" in pb("ps").stdout
    paths = inspect(pb, "frozen")["Cgroup"]["Paths"]
    if "unified" in paths:
        assert "frozen 1" in Path(paths["unified"], "cgroup.events").read_text()
    count = len(ticks.read_text())
    time.sleep(0.4)
    assert len(ticks.read_text()) == count, "a paused container went on running"
    assert "is paused" in pb("exec", "frozen", "true", expect=1).stderr
    pb("unpause", "frozen")
    assert state(pb, "frozen")["Status"] == "running"
    until(lambda: len(ticks.read_text()) > count)
    pb("unpause", "frozen", expect=1)
    pb("pause", "frozen")
    pb("stop", "-t", "1", "frozen")  # a paused container can be stopped
    assert state(pb, "frozen")["Status"] == "exited"


def test_exec_joins_the_container(pb, busybox):
    pb("run", "-d", "--name", "box", "-e", "FROM_RUN=1", "-w", "/work", busybox, "sleep", "100")
    pid = state(pb, "box")["Pid"]
    text = pb("exec", "-e", "EXTRA=2", "box", "sh", "-c",
              "echo $FROM_RUN $EXTRA $(pwd) $(hostname); for n in pid mnt net; do readlink /proc/self/ns/$n; done; "
              "grep CapEff /proc/self/status; cat /proc/self/cgroup").stdout.split()
    assert text[:4] == ["1", "2", "/work", inspect(pb, "box")["Id"][:12]]
    for i, ns in enumerate(("pid", "mnt", "net")):
        assert text[4 + i] == os.readlink(f"/proc/{pid}/ns/{ns}")
    assert "00000000a80425fb" in text
    assert all(line.endswith(":/") for line in text if line.count(":") == 2 and line[0].isdigit())
    assert pb("exec", "-u", "nobody", "-w", "/tmp", "box", "sh", "-c", "id -u; pwd").stdout.split() == ["65534", "/tmp"]
    pb("exec", "box", "sh", "-c", "exit 9", expect=9)
    assert "executable file not found" in pb("exec", "box", "nosuch", expect=126).stderr
    assert pb("exec", "-i", "box", "cat", input="through stdin\n").stdout == "through stdin\n"
    pb("exec", "-d", "box", "sh", "-c", "sleep 0.2; echo detached > /marker")
    until(lambda: pb("exec", "box", "cat", "/marker", expect=None).stdout == "detached\n")
    pb("stop", "-t", "0", "box")
    assert "is not running" in pb("exec", "box", "true", expect=1).stderr


def test_exec_it_gives_an_interactive_shell(pb, busybox):
    pb("run", "-d", "--name", "shell", busybox, "sleep", "100")
    term = Terminal(pb, "exec", "-it", "shell", "sh")
    term.expect("# ")
    term.send(b"tty; echo $((6*7))\n")
    term.expect("42")
    assert b"/dev/pts/" in term.out
    term.send(b"sleep 30 & jobs\n")   # job control works: a real controlling terminal
    term.expect("[1]")
    term.send(b"exit 5\n")
    assert term.wait() == 5
    pb("rm", "-f", "shell")


def test_run_it_detach_keys_and_attach(pb, busybox):
    term = Terminal(pb, "run", "-it", "--name", "console", busybox, "sh")
    term.expect("# ")
    term.send(b"echo ready-$((1+1))\n")
    term.expect("ready-2")
    term.send(b"\x10\x11")            # Ctrl-P Ctrl-Q
    assert term.wait() == 0
    assert state(pb, "console")["Status"] == "running"
    custom = Terminal(pb, "attach", "--detach-keys", "ctrl-a,x", "console")
    custom.send(b"echo custom-$((3+3))\n")
    custom.expect("custom-6")
    custom.send(b"\x01x")             # --detach-keys ctrl-a,x
    assert custom.wait() == 0
    assert state(pb, "console")["Status"] == "running"
    again = Terminal(pb, "attach", "console")
    again.send(b"echo back-$((2+2))\n")
    again.expect("back-4")
    again.send(b"exit 6\n")
    assert again.wait() == 6
    until(lambda: state(pb, "console")["Status"] == "exited")
    assert state(pb, "console")["ExitCode"] == 6
    assert "ready-2" in pb("logs", "console").stdout


def test_detached_rm_and_errors(pb, busybox):
    cid = pb("run", "-d", "--rm", busybox, "true").stdout.strip()
    until(lambda: not (pb.root / "containers" / cid).exists())
    r = pb("run", "-d", busybox, "nosuchcommand", expect=127)
    assert "executable file not found" in r.stderr
    assert "You cannot attach to a stopped container" in pb("attach", pb("ps", "-aq").stdout.split()[0], expect=1).stderr
    r = pb("run", "-d", "-a", "stdout", busybox, "true", expect=125)
    assert "conflicting options" in r.stderr


def test_the_supervisor_survives_its_session(pb, busybox):
    """run -d from a session that then ends (like an SSH logout): the container goes on."""
    script = f"{' '.join(pocketbox_argv())} run -d --name survivor {busybox} sleep 100 >/dev/null; kill -HUP 0"
    subprocess.run(["setsid", "bash", "-c", script], env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    time.sleep(0.3)
    assert state(pb, "survivor")["Status"] == "running"
    shim = state(pb, "survivor")["ShimPid"]
    assert os.getsid(shim) != os.getsid(0)
    pb("rm", "-f", "survivor")


def test_restart_policies(pb, busybox):
    pb("run", "-d", "--name", "flaky", "--restart", "on-failure:2", busybox, "sh", "-c", "echo try; exit 1")
    until(lambda: state(pb, "flaky")["Status"] == "exited" and not state(pb, "flaky").get("ShimPid"))
    assert inspect(pb, "flaky")["RestartCount"] == 2
    assert pb("logs", "flaky").stdout.count("try") == 3
    pb("run", "-d", "--name", "fine", "--restart", "on-failure", busybox, "true")
    until(lambda: state(pb, "fine")["Status"] == "exited")
    assert inspect(pb, "fine")["RestartCount"] == 0
    pb("run", "-d", "--name", "forever", "--restart", "always", busybox, "sh", "-c", "sleep 0.2")
    until(lambda: inspect(pb, "forever")["RestartCount"] >= 2)
    assert "forever" in pb("ps").stdout
    pb("stop", "forever")   # a user's stop ends the policy
    time.sleep(0.5)
    assert state(pb, "forever")["Status"] == "exited"
    for bad in (["--restart", "sometimes"], ["--restart", "always:3"], ["--rm", "--restart", "always"]):
        r = pb("run", *bad, busybox, "true", expect=125)
        assert "restart" in r.stderr.lower()


def test_supervisor_killed_is_reconciled(pb, busybox):
    pb("run", "-d", "--name", "lost", busybox, "sleep", "100")
    st = state(pb, "lost")
    os.kill(st["ShimPid"], signal.SIGKILL)
    time.sleep(0.2)
    assert state(pb, "lost")["Status"] == "running"      # true: the container still runs
    pb("stop", "-t", "1", "lost")                        # and can still be stopped
    st = state(pb, "lost")
    assert st["Status"] == "exited" and st["ExitCode"] == 255 and st["Error"]
    paths = inspect(pb, "lost")["Cgroup"]["Paths"].values()
    assert not any(os.path.exists(p) for p in paths)
    pb("rm", "lost")


def test_pid_reuse_does_not_resurrect(pb, busybox):
    """A record whose pid now belongs to another process (start time differs) is not running."""
    pb("run", "--name", "gone", busybox, "true")
    record_path = Path(inspect(pb, "gone")["RecordPath"])
    record = json.loads(record_path.read_text())
    record["State"].update(Status="running", Pid=os.getpid(), PidStartTime="1")
    record_path.write_text(json.dumps(record))
    assert state(pb, "gone")["Status"] == "exited"


def test_window_resize_reaches_the_container(pb, busybox):
    import fcntl
    import struct
    import termios

    term = Terminal(pb, "run", "-it", "--rm", busybox, "sh")
    fcntl.ioctl(term.master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    term.expect("# ")
    fcntl.ioctl(term.master, termios.TIOCSWINSZ, struct.pack("HHHH", 41, 123, 0, 0))
    os.killpg(term.proc.pid, signal.SIGWINCH)
    time.sleep(0.3)
    term.send(b"stty size\n")
    term.expect("41 123")
    term.send(b"echo hi; exit 3\n")
    term.expect("hi")
    assert term.wait() == 3
