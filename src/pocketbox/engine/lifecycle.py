"""Start, stop, kill, wait, pause and logs of existing containers (Docker's daily verbs).

`start` hands a container to its own supervisor process (pocketbox/shim.py) and returns; the
other verbs act on the container's PID 1 and cgroup, and read the record the supervisor (or a
foreground `run`) keeps."""
import os
import signal as signals
import sys
import time

from pocketbox import events
from pocketbox.engine.containers import Containers, process_alive
from pocketbox.errors import Conflict, NotFound, PocketboxError
from pocketbox.processes import close_fds_except


def parse_signal(value: str | int | None, default: int = signals.SIGTERM) -> int:
    """9, KILL and SIGKILL all name SIGKILL (containerd sends numbers, users send names)."""
    if value is None or value == "":
        return default
    text = str(value).upper()
    if text.isdigit():
        n = int(text)
        if 0 < n < signals.NSIG:
            return n
    else:
        name = text if text.startswith("SIG") else "SIG" + text
        if hasattr(signals.Signals, name):
            return int(signals.Signals[name])
    raise PocketboxError(f"invalid signal: {value}")


def running(record: dict) -> bool:
    return record["State"]["Status"] in ("running", "paused", "restarting")


class Lifecycle:
    def __init__(self, engine: Containers | None = None):
        self.engine = engine or Containers()

    def start(self, ref: str, wait_attach: bool = False, fork: bool = False):
        """Start the container under a new supervisor. With wait_attach, returns (record, ready
        pipe) once the supervisor listens, and it starts the container when a client attaches.
        `fork`: the supervisor is a fork of this process, not a new Python (the API service,
        which has the modules loaded already, saves the interpreter's start-up)."""
        record = self.engine.find(ref)
        if running(record):
            return record, None
        cid = record["Id"]
        import subprocess

        from pocketbox import explain

        ready_r, ready_w = os.pipe()
        env = dict(os.environ)
        explain_fd = explain.output_fd()
        if explain_fd is not None:  # the supervisor reports its acts on our explain output until started
            env["POCKETBOX_EXPLAIN_FD"] = str(explain_fd)
        with self.engine.lock(cid):  # no new file in a directory `rm` is removing
            if self.engine.load(cid) is None:  # removed (rm -f) since we looked
                os.close(ready_r)
                os.close(ready_w)
                raise NotFound(f"No such container: {ref}")
            errlog = open(self.engine.dir(cid) / "shim.log", "ab")
        args = [cid, str(ready_w)] + (["--wait-attach"] if wait_attach else [])
        with errlog:
            if fork:
                _fork_supervisor(args, ready_w, errlog.fileno())
            else:
                subprocess.Popen([sys.executable, "-m", "pocketbox.shim", *args],
                                 pass_fds=[ready_w] + ([explain_fd] if explain_fd is not None else []),
                                 start_new_session=True, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errlog, env=env)
        os.close(ready_w)
        ready = os.fdopen(ready_r, "rb", buffering=0)
        if wait_attach:
            line = ready.readline()
            if line.strip() != b"listening":
                raise PocketboxError(f"the supervisor of {cid[:12]} did not start: see {self.engine.dir(cid)}/shim.log")
            return record, ready
        self.wait_started(cid, ready)
        return self.engine.find(cid), None

    def wait_started(self, cid: str, ready) -> None:
        import json

        line = ready.readline()
        ready.close()
        if line.strip() == b"started":
            return
        if line.startswith(b"{"):
            info = json.loads(line)
            raise PocketboxError(info["error"], info["code"])
        raise PocketboxError(f"the supervisor of {cid[:12]} failed: see {self.engine.dir(cid)}/shim.log")

    def stop(self, ref: str, timeout: int | None = None, sig: str | None = None) -> dict:
        """The stop signal (--stop-signal, the image's StopSignal or SIGTERM) to PID 1; SIGKILL to all
        after `timeout` seconds (-1: none)."""
        record = self.engine.find(ref)
        if not running(record):
            return record
        state = record["State"]
        cgroup = self.engine.cgroup(record["Id"])
        if state["Status"] == "paused":
            cgroup.thaw()
        try:
            stop_signal = parse_signal(sig or record["Config"].get("StopSignal"), signals.SIGTERM)
        except PocketboxError:
            if sig:
                raise
            stop_signal = signals.SIGTERM  # a bad StopSignal recorded earlier never blocks a stop
        from pocketbox import explain

        relay = explain.open_relay(self.engine.dir(record["Id"]))  # the supervisor's exit and clean-up events
        # a stop by the user ends any restart policy (Docker's rule)
        self.engine.update(record["Id"], lambda r: r["State"].update(StopRequested=True))
        self._signal(record, stop_signal)
        if timeout is None:  # --stop-timeout of the container, else Docker's 10 seconds; -1: no limit
            timeout = record["Config"].get("StopTimeout")
            timeout = 10 if timeout is None else timeout
        deadline = float("inf") if timeout < 0 else time.monotonic() + timeout
        while process_alive(state["Pid"], state.get("PidStartTime")) and time.monotonic() < deadline:
            time.sleep(0.02)
        if process_alive(state["Pid"], state.get("PidStartTime")):
            cgroup.kill_all()
            explain.report("signal", signal="SIGKILL (the timeout passed) to every process of the cgroup", pid=state["Pid"])
        try:
            stopped = self.wait_exited(record["Id"])
            events.container("stop", record)
            return stopped
        finally:
            explain.finish_relay(self.engine.dir(record["Id"]), relay)

    def wait_exited(self, cid: str, timeout: float | None = 15) -> dict:
        """Until the supervisor (or the foreground run) has recorded the exit (and will not restart)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = None
        while True:
            try:
                record = self.engine.find(cid)
            except NotFound:  # removed once it exited (--rm): it stopped, with the code it left
                if last is None:
                    raise
                code = self.engine.exit_code_of(cid)
                last["State"].update(Status="removed", Running=False,
                                     ExitCode=last["State"]["ExitCode"] if code is None else code)
                return last
            last = record
            if not running(record) and not record["State"].get("ShimPid"):
                return record
            if not running(record) and not process_alive(record["State"]["ShimPid"], record["State"].get("ShimStartTime")):
                return record
            if deadline is not None and time.monotonic() > deadline:
                raise PocketboxError(f"container {cid[:12]} did not record its exit in time")
            time.sleep(0.02)

    def kill(self, ref: str, sig: str | None = None) -> dict:
        signum = parse_signal(sig, signals.SIGKILL)
        record = self.engine.find(ref)
        if not running(record):
            raise Conflict(f"cannot kill container: {ref}: container {record['Id']} is not running")
        self._signal(record, signum)
        if signum == signals.SIGKILL:  # as Docker: a SIGKILL returns once the container has stopped
            return self.wait_exited(record["Id"])
        return record

    def _signal(self, record: dict, signum: int) -> None:
        from pocketbox import explain

        state = record["State"]
        if process_alive(state["Pid"], state.get("PidStartTime")):
            try:
                os.kill(state["Pid"], signum)
                explain.report("signal", signal=signals.Signals(signum).name, pid=state["Pid"])
                events.container("kill", record, signal=signum)
            except ProcessLookupError:
                pass

    def pause(self, ref: str, paused: bool) -> dict:
        record = self.engine.find(ref)
        status = record["State"]["Status"]
        if paused and status != "running":
            raise Conflict(f"container {record['Id']} is not running")
        if not paused and status != "paused":
            raise Conflict(f"container {record['Id']} is not paused")
        cgroup = self.engine.cgroup(record["Id"])
        cgroup.freeze() if paused else cgroup.thaw()
        events.container("pause" if paused else "unpause", record)
        return self.engine.update(record["Id"], lambda r: r["State"].update(
            Status="paused" if paused else "running", Paused=paused)) or record

    def log_path(self, record: dict) -> str:
        return str(self.engine.dir(record["Id"]) / f"{record['Id']}-json.log")


def _fork_supervisor(args: list[str], ready_w: int, errlog: int) -> None:
    """The supervisor as a fork of this process, in a session of its own and orphaned at once (a
    double fork): the same shim.main() a new `python -m pocketbox.shim` would run. Only the
    forking thread goes on in the child; it keeps no fd of ours but the ready pipe and its log,
    and forgets the container locks other threads held."""
    first = os.fork()
    if first:
        os.waitpid(first, 0)
        return
    code = 125
    try:
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open("/dev/null", os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.dup2(errlog, 2)
        close_fds_except([ready_w])
        from pocketbox import shim
        from pocketbox.engine import containers

        containers._HELD.clear()
        code = shim.main(args)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def exec_process(engine: Containers, ref: str, command: list[str], *, interactive: bool = False, tty: bool = False,
                 env: list[str] | None = None, workdir: str | None = None, user: str | None = None,
                 detach: bool = False, privileged: bool = False, timeout: float | None = None,
                 stdio: tuple[int, int, int] | None = None, on_console=None) -> int:
    """`exec`: run `command` in a running container, with its environment, user and confinement
    (--privileged: every capability and no seccomp filter; the namespaces and cgroup stay).
    `timeout`: seconds after which the command is killed (-1 is returned then)."""
    import json

    from pocketbox.engine import options, users
    from pocketbox.runtime.exec import exec_in

    record = engine.find(ref)
    status = record["State"]["Status"]
    if status == "paused":
        raise Conflict(f"Container {record['Id']} is paused, unpause the container before exec")
    if status != "running":
        raise Conflict(f"Container {record['Id']} is not running")
    if not command:
        raise PocketboxError("exec needs a command")
    with open(engine.dir(record["Id"]) / "config.json") as f:
        spec = json.load(f)
    pid = record["State"]["Pid"]
    process = dict(spec["process"])
    if user is not None:
        u = users.resolve(user, [f"/proc/{pid}/root"])
        process["user"] = {"uid": u.uid, "gid": u.gid, "additionalGids": u.additional_gids}
    merged = dict(e.split("=", 1) for e in process.get("env", []) if "=" in e)
    for item in options.expand_env(env or []):
        k, _, v = item.partition("=")
        merged[k] = v
    if tty:
        merged.setdefault("TERM", "xterm")
    if workdir and not workdir.startswith("/"):
        raise PocketboxError(f"the working directory '{workdir}' is invalid, it needs to be an absolute path")
    process.update(args=list(command), env=[f"{k}={v}" for k, v in merged.items()], cwd=workdir or process.get("cwd", "/"),
                   terminal=tty, stdinOpen=interactive)
    if privileged:
        from pocketbox.runtime.capabilities import resolve

        caps = resolve([], [], True)
        process["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [],
                                   "ambient": []}
        spec.get("linux", {}).pop("seccomp", None)
    paths = {k: v for k, v in record["Cgroup"]["Paths"].items() if os.path.isdir(v)}
    from pocketbox.runtime.run import seccomp_program

    return exec_in(pid, process, paths, detach, seccomp_program(spec), timeout=timeout, stdio=stdio,
                   on_console=on_console)
