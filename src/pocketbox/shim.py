"""The per-container supervisor of detached containers (what conmon is to podman).

    python -m pocketbox.shim CONTAINER_ID READY_FD [--wait-attach]

It is started by `run -d`, `run -it` and `start`, in its own session so that it outlives the
terminal. It starts the container with pipes (or a pty) as its stdio, writes the output to the
json-file log, serves `attach` clients on containers/<id>/attach.sock (Docker's multiplexed
frames, see streams_mux.py), and when the container's PID 1 exits it records the exit code,
removes the cgroup, tells attached clients, and runs `--rm`. Nothing else of pocketbox runs
while a detached container lives: there is no daemon."""
import json
import os
import signal
import socket
import sys

from pocketbox import streams_mux as mux

SOCKET_NAME = "attach.sock"


def socket_path(container_dir: str) -> str:
    return os.path.join(container_dir, SOCKET_NAME)


def short_path(dir_fd: int, name: str) -> str:
    """AF_UNIX paths are limited to 108 bytes; /proc/self/fd/N/name is always short."""
    return f"/proc/self/fd/{dir_fd}/{name}"


MONITOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pocketbox-monitor")


def log_arguments(record: dict, path: str) -> list[str]:
    """pocketbox-monitor's log options from HostConfig.LogConfig (json-file's max-size/max-file, or none)."""
    from pocketbox.logs import rotation

    config = record["HostConfig"].get("LogConfig") or {}
    if config.get("Type") == "none":
        return ["--log", "-"]
    max_size, max_file = rotation(config)
    return ["--log", path, "--log-max-size", str(max_size), "--log-max-file", str(max_file)]


class Supervisor:
    def __init__(self, cid: str, wait_attach: bool, listen_fd: int | None = None):
        from pocketbox.engine.containers import Containers

        self.engine = Containers()
        self.cid = cid
        self.dir = str(self.engine.dir(cid))
        self.record = self.engine.load(cid) or {"Config": {"Tty": False, "OpenStdin": False}}  # (gone: start says so)
        self.tty = bool(self.record["Config"]["Tty"])
        self.stdin_open = bool(self.record["Config"]["OpenStdin"])
        self.wait_attach = wait_attach
        self.clients: dict[socket.socket, mux.FrameReader] = {}
        if listen_fd is not None:  # back from pocketbox-monitor: the socket it served
            self.server = socket.socket(fileno=listen_fd)
        else:
            with self.engine.lock(cid):  # never a file in the directory of a container `rm` is removing
                if self.engine.load(cid) is None:
                    raise FileNotFoundError(self.dir)
                self.dir_fd = os.open(self.dir, os.O_PATH | os.O_DIRECTORY)
                self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    os.unlink(socket_path(self.dir))
                except FileNotFoundError:
                    pass
                self.server.bind(short_path(self.dir_fd, SOCKET_NAME))
                os.chmod(socket_path(self.dir), 0o600)
                self.server.listen(8)
        self.stdin_w = self.stdin_r = None
        self.outputs: dict[int, str] = {}

    def start(self, ready_fd: int, restarting: bool = False) -> None:
        if not os.access(MONITOR, os.X_OK):  # it is built with the package: never run unwatched
            self._refuse(ready_fd, f"{MONITOR} is missing: reinstall pocketbox", 125)
        if self.wait_attach:  # `start -a` / `run -it`: the first client sees the first byte of output
            os.write(ready_fd, b"listening\n")
            conn, _ = self.server.accept()
            self._accept(conn)
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if self.stdin_open and not self.tty:
            self.stdin_r, self.stdin_w = os.pipe()
        with self.engine.lock(self.cid):  # `rm -f`, `start` and this agree on one state at every moment
            self._start_locked(ready_fd, restarting, null, out_r, out_w, err_r, err_w)

    def _start_locked(self, ready_fd, restarting, null, out_r, out_w, err_r, err_w) -> None:
        from pocketbox.engine.containers import now, process_alive, process_start_time
        from pocketbox.runtime.run import Container

        self.record = self.engine.load(self.cid)
        if self.record is None:  # removed meanwhile
            self._refuse(ready_fd, f"No such container: {self.cid}", 1)
        state = self.record["State"]
        if state["Status"] in ("running", "paused") and process_alive(state.get("Pid", 0), state.get("PidStartTime")):
            os.write(ready_fd, b"started\n")  # another `start` won: there is one container, running
            raise SystemExit(0)
        self.container = Container(self.dir, self.cid, stdio=(self.stdin_r or null, out_w, err_w))
        try:
            network = self.engine.connect(self.record)
            self.container.start()
        except Exception as e:
            self.engine.disconnect(self.record)
            code, error = getattr(e, "exit_code", 125), str(e)
            # Docker's: a container that could not start stays created, with the code and the error
            self.engine.update(self.cid, lambda r: r["State"].update(Status="created", ExitCode=code, Error=error,
                                                                      FinishedAt=now()))
            self._refuse(ready_fd, error, code)
        for fd in (null, out_w, err_w) + ((self.stdin_r,) if self.stdin_r else ()):
            os.close(fd)
        from pocketbox.runtime import operations

        operations.register(self.engine.runtime_root, self.container)
        if self.tty:
            self.outputs = {self.container.console: "stdout"}
            self.stdin_w = self.container.console
        else:
            self.outputs = {out_r: "stdout", err_r: "stderr"}
        pid = self.container.pid
        started = process_start_time(pid)
        stopped_meanwhile = False

        def running(r):
            nonlocal stopped_meanwhile
            # a new `start` clears an old stop; a stop that arrived while we restarted stands
            stopped_meanwhile = restarting and bool(r["State"].get("StopRequested"))
            r["State"].update(
                Status="running", Running=True, Paused=False, Pid=pid, PidStartTime=started, StartedAt=now(),
                ExitCode=0, Error="", OOMKilled=False, ShimPid=os.getpid(),
                ShimStartTime=process_start_time(os.getpid()), StopRequested=stopped_meanwhile, Restarting=False)
            r["NetworkSettings"] = network
            if health.active(r["Config"].get("Healthcheck")):
                r["State"]["Health"] = {"Status": "starting", "FailingStreak": 0, "Log": []}
        from pocketbox.engine import health

        self.record = self.engine.update(self.cid, running) or self.record
        from pocketbox import events

        events.container("start", self.record)
        if health.active(self.record["Config"].get("Healthcheck")):
            health.spawn(self.cid)
        if stopped_meanwhile:
            self.container.cgroup.kill_all()  # the monitor records the exit; the policy ends there
        if (self.record["HostConfig"].get("LogConfig") or {}).get("Type") != "none":
            # the log exists once `start` returns: a `logs -f` that opens it then sees every line
            os.close(os.open(os.path.join(self.dir, f"{self.cid}-json.log"),
                             os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o640))
        os.write(ready_fd, b"started\n")
        os.close(ready_fd)

    def _refuse(self, ready_fd: int, error: str, code: int) -> None:
        """Tell the waiting CLI (and attached clients) why nothing runs, and end."""
        os.write(ready_fd, json.dumps({"error": error, "code": code}).encode() + b"\n")
        self._send_all(mux.frame(mux.EXIT, str(code).encode()))
        raise SystemExit(code)

    # --- the loop ----------------------------------------------------------------------------
    def hand_over(self) -> None:
        """Become pocketbox-monitor (C, ~1 MB) for as long as the container runs; it execs
        `python -m pocketbox.shim --finish` with the wait status when the container exits."""
        import sys

        fds = {"--out": None, "--err": None}
        outputs = list(self.outputs)
        fds["--out"] = outputs[0]
        fds["--err"] = outputs[1] if len(outputs) > 1 else -1
        stdin = self.stdin_w if self.stdin_w is not None else -1
        clients = [c.fileno() for c in self.clients]
        for fd in [f for f in (fds["--out"], fds["--err"], stdin, self.server.fileno(), *clients) if f >= 0]:
            os.set_inheritable(fd, True)
        argv = [MONITOR, "--pid", str(self.container.pid), "--out", str(fds["--out"]), "--err", str(fds["--err"]),
                "--in", str(stdin), "--listen", str(self.server.fileno()), "--tty", "1" if self.tty else "0",
                *log_arguments(self.record, os.path.join(self.dir, f"{self.cid}-json.log")),
                *[arg for fd in clients for arg in ("--client", str(fd))],
                "--", sys.executable, "-m", "pocketbox.shim", "--finish", self.cid]
        os.execv(MONITOR, argv)

    def _accept(self, conn: socket.socket) -> None:
        conn.setblocking(True)
        self.clients[conn] = mux.FrameReader()

    def _send_all(self, data: bytes) -> None:
        for c in list(self.clients):
            try:
                c.sendall(data)
            except OSError:
                self._drop(c)

    def _drop(self, c: socket.socket) -> None:
        self.clients.pop(c, None)
        c.close()

    def _finish(self, status: int) -> int:
        """The container's PID 1 has exited: record it, free the cgroup, tell attached clients."""
        from pocketbox import explain
        from pocketbox.engine.containers import STOPPED_NETWORK, now
        from pocketbox.runtime.run import exit_code

        code = exit_code(status)
        oom = self.container.cgroup.oom_killed()
        explain.report("exit", code=code, oom_killed=oom)
        self.container.cgroup.destroy()
        explain.report("cleanup", thing="the container's cgroup (every process in it is gone)",
                       act="; ".join(f"rmdir({p})" for p in self.container.cgroup.paths.values()))
        from pocketbox.runtime import operations

        operations.unregister(self.engine.runtime_root, self.cid)
        if self.record:
            self.engine.disconnect(self.record)
        self.record = self.engine.update(self.cid, lambda r: r["State"].update(
            Status="exited", Running=False, Paused=False, Pid=0, ExitCode=code, OOMKilled=oom, FinishedAt=now())
            or r.update(NetworkSettings=STOPPED_NETWORK))
        self._send_all(mux.frame(mux.EXIT, str(code).encode()))
        from pocketbox import events

        events.container("die", self.record or {"Id": self.cid}, exitCode=code)
        return code

    def restart_wanted(self, code: int) -> bool:
        """Docker's restart policies; a `stop` by the user ends every policy."""
        if self.record is None:  # removed under us (rm -f)
            return False
        policy = self.record["HostConfig"].get("RestartPolicy") or {"Name": "no"}
        name, state = policy.get("Name", "no"), self.record["State"]
        if name == "no" or state.get("StopRequested"):
            return False
        if name == "on-failure":
            limit = policy.get("MaximumRetryCount") or 0
            return code != 0 and (limit == 0 or self.record.get("RestartCount", 0) < limit)
        return name in ("always", "unless-stopped")

    def restart(self, delay: float) -> None:
        """Start the same container again (same bundle, same upper dir) after `delay` seconds."""
        import time

        self.engine.update(self.cid, lambda r: (r["State"].update(Status="restarting", Restarting=True),
                                                r.update(RestartCount=r.get("RestartCount", 0) + 1)))
        time.sleep(delay)
        record = self.engine.load(self.cid)
        if record is None or record["State"].get("StopRequested"):
            return
        self.wait_attach = False
        read_end, write_end = os.pipe()
        try:
            self.start(write_end, restarting=True)
        finally:
            os.close(read_end)

    def close(self) -> None:
        for c in list(self.clients):
            self._drop(c)
        self.server.close()
        try:
            os.unlink(socket_path(self.dir))
        except FileNotFoundError:
            pass
        from pocketbox.errors import PocketboxError

        def closing(r):
            if r["State"]["Status"] == "restarting":  # a stop arrived during the restart delay
                r["State"]["Status"] = "exited"
            r["State"].update(ShimPid=0, Restarting=False)
        self.record = self.engine.update(self.cid, closing)
        if self.record and self.record["HostConfig"].get("AutoRemove"):
            try:
                self.engine.remove(self.cid, force=True, volumes=True)
            except PocketboxError:
                pass  # removed already (by the CLI, or `rm -f`)


def main(argv: list[str]) -> int:
    """Start mode: CID READY_FD [--wait-attach]. Finish mode (exec'd by pocketbox-monitor):
    --finish CID WAIT_STATUS LISTEN_FD."""
    from pocketbox import explain

    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = 125
    if argv[0] == "--finish":
        from pocketbox.runtime.run import Container

        cid, status, listen_fd = argv[1], int(argv[2]), int(argv[3])
        sup = Supervisor(cid, False, listen_fd)
        explain.join_relay(sup.dir)  # `stop --explain` waits for our exit and clean-up events
        sup.container = Container(sup.dir, cid)
        code = sup._finish(status)
        restart = sup.restart_wanted(code)
    else:
        handed = os.environ.pop("POCKETBOX_EXPLAIN_FD", None)
        if handed is not None:  # `run -d --explain`: report the start on the CLI's explain output
            explain.enable_fd(int(handed), "json" if os.environ.get("POCKETBOX_EXPLAIN") == "json" else "text")
        try:
            sup = Supervisor(argv[0], "--wait-attach" in argv[2:])
        except FileNotFoundError:  # removed (rm -f) between the CLI's look and ours
            os.write(int(argv[1]), json.dumps({"error": f"No such container: {argv[0]}", "code": 1}).encode() + b"\n")
            return 1
        try:
            sup.start(int(argv[1]))
        finally:
            explain.disable()  # never hold the CLI's stderr open while the container runs
        restart = True
    try:
        while restart:
            if argv[0] == "--finish":
                count = (sup.record or {}).get("RestartCount", 0)
                sup.restart(min(0.1 * 2 ** count, 60.0))  # Docker's backoff: 100 ms, doubling, at most a minute
                record = sup.engine.load(sup.cid)
                if record is None or record["State"]["Status"] != "running":
                    break
            sup.hand_over()  # does not return
    finally:
        sup.close()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
