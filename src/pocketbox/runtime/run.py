"""Run one OCI bundle in the foreground: cgroup, fork into new namespaces, wait, clean up.

    runtime (this process)                     container process (forked)
    ----------------------                     --------------------------
    create the cgroup, write limits
    unshare(CLONE_NEWPID);
    clone3(CLONE_INTO_CGROUP) ---------------> PID 1 of a new PID namespace, in the cgroup v2
    setns back to our own PID namespace         joins the v1 hierarchies (hybrid/v1 hosts),
                                                unshare mnt/uts/ipc/net/cgroup, mounts,
                                                pivot_root, hostname, user, capabilities
    read the error pipe  <-------------------   execve (the pipe closes: success) or error
    forward signals / the pty, waitpid()
    kill what is left in the cgroup, rmdir it
"""
import json
import os
import signal
from pocketbox import explain, syscalls as sc
from pocketbox.errors import PocketboxError
from pocketbox.runtime.cgroups import ContainerCgroup, Limits
from pocketbox.runtime.init import InitError, container_init, exec_failure, sealed_exec_helper

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class StartError(PocketboxError):
    """The container could not be started (exit 125), or its command not run (126/127)."""


class Exit:
    def __init__(self, code: int, oom_killed: bool):
        self.code, self.oom_killed = code, oom_killed


def limits_from_spec(spec: dict) -> Limits:
    r = spec.get("linux", {}).get("resources", {})
    mem, cpu, pids = r.get("memory", {}), r.get("cpu", {}), r.get("pids", {})
    limits = Limits(memory=mem.get("limit"), memory_swap=mem.get("swap"), cpu_shares=cpu.get("shares"),
                    pids_limit=pids.get("limit"), cpu_quota=cpu.get("quota"), cpu_period=cpu.get("period"),
                    cpuset_cpus=cpu.get("cpus"), cpuset_mems=cpu.get("mems"),
                    memory_reservation=mem.get("reservation"), oom_kill_disable=bool(mem.get("disableOOMKiller")))
    for d in r.get("devices") or []:  # in order, after the defaults: a deny of everything starts afresh
        if not d.get("allow"):
            if d.get("type", "a") == "a" and d.get("major", -1) == -1:
                limits.devices = []
            continue
        major = d["major"] if d.get("major", -1) not in (-1, None) else "*"
        minor = d["minor"] if d.get("minor", -1) not in (-1, None) else "*"
        limits.devices.append(f"{d.get('type', 'a')} {major}:{minor} {d.get('access', 'rwm')}")
    return limits


def seccomp_program(spec: dict) -> bytes | None:
    """The compiled BPF of the spec's seccomp section (cached under the state root), or None."""
    section = spec.get("linux", {}).get("seccomp")
    if not section:
        return None
    from pocketbox.runtime.seccomp import SeccompError, cached_bpf
    from pocketbox.state import state_root

    try:
        return cached_bpf(section, state_root() / "cache" / "seccomp")
    except SeccompError as e:
        raise StartError(f"invalid seccomp profile: {e}") from None


def exit_code(status: int) -> int:
    """Docker's convention: the exit status, or 128+n for death by signal n."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Container:
    """One started container process and its cgroup."""

    def __init__(self, bundle: str, container_id: str, report=None, stdio: tuple[int, int, int] | None = None):
        self.bundle = bundle
        self.stdio = stdio  # fds that become the container's 0, 1, 2 (when it has no terminal)
        self.id = container_id
        with open(os.path.join(bundle, "config.json")) as f:
            self.spec = json.load(f)
        self.report = report or explain.report
        self.cgroup = ContainerCgroup(container_id, on_write=lambda p, v: self.report("cgroup", file=p, value=v))
        self.pid = 0
        self.console: int | None = None
        self.seccomp_bpf = seccomp_program(self.spec)
        self.userns_fd: int | None = None

    def start(self) -> None:
        """Fork the container process and wait until it has exec'd its command (or failed)."""
        try:
            helper_fd = sealed_exec_helper()
        except (InitError, OSError) as e:
            raise StartError(f"failed to start container: {e}") from None
        try:
            self.cgroup.create(limits_from_spec(self.spec))
        except OSError as e:
            os.close(helper_fd)
            raise StartError(f"cannot set up the container's cgroup: {e.strerror or e}"
                             f"{': ' + str(e.filename) if e.filename else ''}") from None
        except BaseException:
            os.close(helper_fd)
            raise
        linux = self.spec.get("linux", {})
        if any(ns["type"] == "user" for ns in linux.get("namespaces", [])):
            from pocketbox.runtime import userns

            try:
                self.userns_fd = userns.create(linux.get("uidMappings") or [], linux.get("gidMappings") or [])
            except OSError as e:
                self.cgroup.destroy()
                os.close(helper_fd)
                raise StartError(f"cannot create the container's user namespace: {e}") from None
        terminal = bool(self.spec["process"].get("terminal"))
        err_r, err_w = os.pipe()
        parent_sock = child_sock = None
        if terminal:
            import socket

            parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid_ns = next((ns for ns in self.spec.get("linux", {}).get("namespaces", []) if ns["type"] == "pid"), None)
        new_pid_ns = pid_ns is not None
        own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if pid_ns and pid_ns.get("path"):  # --pid container:NAME: its namespace, for the children we fork
                theirs = os.open(pid_ns["path"], os.O_RDONLY | os.O_CLOEXEC)
                try:
                    sc.setns(theirs, sc.CLONE_NEWPID)
                finally:
                    os.close(theirs)
            elif pid_ns:
                sc.unshare(sc.CLONE_NEWPID)  # affects only the children we fork from now on
            pid = self.cgroup.fork()
            if pid == 0:
                for s in FORWARDED_SIGNALS:
                    signal.signal(s, signal.SIG_DFL)
                os.close(err_r)
                if parent_sock:
                    parent_sock.close()
                if self.stdio and not terminal:
                    for target, fd in enumerate(self.stdio):
                        if fd != target:
                            os.dup2(fd, target)
                container_init(self.spec, self.bundle, self.cgroup.join, err_w, child_sock, self.report,
                               self.seccomp_bpf, self.userns_fd, helper_fd)
            if new_pid_ns:
                sc.setns(own_pid_ns, sc.CLONE_NEWPID)  # later children (hooks, cleanup) stay in ours
            self.report("fork", pid=pid, namespace="host" if not new_pid_ns else "the PID namespace of "
                        f"{pid_ns['path']}" if pid_ns.get("path") else "new PID namespace: it is PID 1 there",
                        how="clone3(CLONE_INTO_CGROUP)" if self.cgroup.born_in_unified else "fork()")
        finally:
            os.close(own_pid_ns)
            os.close(helper_fd)
            os.close(err_w)
            if self.userns_fd is not None:  # the container's process holds it now
                os.close(self.userns_fd)
                self.userns_fd = None
            if child_sock:
                child_sock.close()
        self.pid = pid
        try:
            err = b""
            while chunk := os.read(err_r, 65536):
                err += chunk
            os.close(err_r)
            if err:
                os.waitpid(pid, 0)
                message, code = exec_failure(json.loads(err), self.spec["process"]["args"])
                raise StartError(f"failed to start container: {message}", code)
            if terminal:
                import socket

                _, fds, _, _ = socket.recv_fds(parent_sock, 16, 1)
                self.console = fds[0]
                parent_sock.close()
        except BaseException:
            self._kill_and_reap()
            self.cgroup.destroy()
            raise

    def _kill_and_reap(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass

    def wait(self, on_output=None, relay=None) -> Exit:
        """Wait for the container's PID 1, forwarding signals to it; then clean its cgroup.
        With a terminal, `on_output(data)` also gets what it wrote; without one, `relay()` runs
        first (copying the output pipes until they close)."""
        previous = {s: signal.signal(s, self._forward) for s in FORWARDED_SIGNALS}
        try:
            if self.console is not None:
                from pocketbox.runtime.tty import proxy

                proxy(self.console, self.spec["process"].get("stdinOpen", True), on_output=on_output)
            elif relay is not None:
                relay()
            while True:
                try:
                    _, status = os.waitpid(self.pid, 0)
                    break
                except InterruptedError:
                    continue
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        code = exit_code(status)
        oom = self.cgroup.oom_killed()
        self.report("exit", code=code, oom_killed=oom)
        self.cgroup.destroy()
        self.report("cleanup", thing="the container's cgroup (every process in it is gone)",
                    act="; ".join(f"rmdir({p})" for p in self.cgroup.paths.values()))
        return Exit(code, oom)

    def _forward(self, signum, frame) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass
