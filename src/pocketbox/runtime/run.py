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
import os
import _signal as signal  # the C module: signal.py builds enums, and importing enum delays start-up

from pocketbox import explain, jsonlite as json, syscalls as sc
from pocketbox.errors import PocketboxError
from pocketbox.runtime.cgroups import DEFAULT_DEVICE_RULES, CgroupPathError, ContainerCgroup, Limits, spec_path
from pocketbox.runtime.init import Handshake, InitError, container_init, exec_failure, sealed_exec_helper

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class StartError(PocketboxError):
    """The container could not be started (exit 125), or its command not run (126/127)."""


class Exit:
    def __init__(self, code: int, oom_killed: bool):
        self.code, self.oom_killed = code, oom_killed


IN_RUNTIME_HOOKS = ("prestart", "createRuntime")  # run by us, between fork and pivot_root
HANDSHAKE_HOOKS = IN_RUNTIME_HOOKS + ("createContainer", "startContainer")


def bundle_cgroup(bundle: str, container_id: str) -> ContainerCgroup:
    """The cgroup of the container a bundle describes (its linux.cgroupsPath): how the engine
    finds what to pause, measure or update, without a cgroup layout of its own."""
    try:
        with open(os.path.join(bundle, "config.json")) as f:
            spec = json.load(f)
    except (OSError, ValueError):  # (a record whose bundle is gone: the default place)
        spec = {}
    try:
        path = spec_path((spec.get("linux") or {}).get("cgroupsPath"), container_id)
    except CgroupPathError as e:
        raise StartError(str(e)) from None
    return ContainerCgroup(container_id, path=path)


def limits_from_spec(spec: dict) -> Limits:
    return limits_from_resources(spec.get("linux", {}).get("resources") or {})


def limits_from_resources(r: dict, devices: bool = True) -> Limits:
    """linux.resources (or the JSON `update` reads) as Limits; `devices`: apply the device rules."""
    mem, cpu, pids = r.get("memory") or {}, r.get("cpu") or {}, r.get("pids") or {}
    limits = Limits(memory=mem.get("limit"), memory_swap=mem.get("swap"), cpu_shares=cpu.get("shares"),
                    pids_limit=pids.get("limit"), cpu_quota=cpu.get("quota"), cpu_period=cpu.get("period"),
                    cpuset_cpus=cpu.get("cpus"), cpuset_mems=cpu.get("mems"),
                    memory_reservation=mem.get("reservation"), oom_kill_disable=bool(mem.get("disableOOMKiller")))
    for d in (r.get("devices") or []) if devices else []:  # in order, after the defaults: a deny-all starts afresh
        if not d.get("allow"):
            if d.get("type", "a") == "a" and d.get("major", -1) == -1:
                limits.devices = []
            continue
        major = d["major"] if d.get("major", -1) not in (-1, None) else "*"
        minor = d["minor"] if d.get("minor", -1) not in (-1, None) else "*"
        limits.devices.append(f"{d.get('type', 'a')} {major}:{minor} {d.get('access', 'rwm')}")
    limits.devices += [rule for rule in DEFAULT_DEVICE_RULES if rule not in limits.devices]  # always, as runc
    block = r.get("blockIO") or {}
    limits.blkio_weight = block.get("weight")
    for key, kind in (("throttleReadBpsDevice", "read_bps"), ("throttleWriteBpsDevice", "write_bps"),
                      ("throttleReadIOPSDevice", "read_iops"), ("throttleWriteIOPSDevice", "write_iops")):
        for d in block.get(key) or []:
            limits.blkio_throttle.append((kind, f"{d['major']}:{d['minor']}", int(d["rate"])))
    limits.hugepages = [(h["pageSize"], int(h["limit"])) for h in r.get("hugepageLimits") or []]
    limits.swappiness = mem.get("swappiness")
    limits.unified = {str(k): str(v) for k, v in (r.get("unified") or {}).items()}
    return limits


def seccomp_program(spec: dict, cache_dir: str | None = None) -> bytes | None:
    """The compiled BPF of the spec's seccomp section, or None. Cached in `cache_dir`, by
    default the engine's (under the state root)."""
    section = spec.get("linux", {}).get("seccomp")
    if not section:
        return None
    from pocketbox.runtime.seccomp import SeccompError, cached_bpf

    if cache_dir is None:
        from pocketbox.state import state_root

        cache_dir = str(state_root() / "cache" / "seccomp")
    try:
        return cached_bpf(section, cache_dir)
    except SeccompError as e:
        raise StartError(f"invalid seccomp profile: {e}") from None


def exit_code(status: int) -> int:
    """Docker's convention: the exit status, or 128+n for death by signal n."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class Container:
    """One started container process and its cgroup."""

    def __init__(self, bundle: str, container_id: str, report=None, stdio: tuple[int, int, int] | None = None,
                 spec: dict | None = None, preserve_fds: int = 0, no_pivot: bool = False,
                 seccomp_cache: str | None = None):
        self.bundle = bundle
        self.stdio = stdio  # fds that become the container's 0, 1, 2 (when it has no terminal)
        self.id = container_id
        if spec is None:
            with open(os.path.join(bundle, "config.json")) as f:
                spec = json.load(f)
        self.spec = spec
        self.preserve_fds, self.no_pivot = preserve_fds, no_pivot
        self.report = report or explain.report
        try:
            path = spec_path(spec.get("linux", {}).get("cgroupsPath"), container_id)
        except CgroupPathError as e:
            raise StartError(str(e)) from None
        self.cgroup_path = path
        self.cgroup = ContainerCgroup(container_id, on_write=lambda p, v: self.report("cgroup", file=p, value=v),
                                      path=path)
        self.pid = 0
        self.console: int | None = None
        self.seccomp_bpf = seccomp_program(self.spec, seccomp_cache)
        self.userns_fd: int | None = None

    def start(self, start_fifo: int | None = None) -> None:
        """Fork the container process and wait until it has exec'd its command (or failed).
        `start_fifo` (`create`): it waits instead, ready to exec, until a byte arrives there."""
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
        parent_sock = child_sock = hooks_parent = hooks_child = None
        if terminal:
            import socket

            parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if any((self.spec.get("hooks") or {}).get(kind) for kind in HANDSHAKE_HOOKS):
            import socket

            hooks_parent, hooks_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        ready_r, ready_w = os.pipe() if start_fifo is not None else (None, None)
        handshake = Handshake(hooks_child, ready_w, start_fifo, self.preserve_fds, self.no_pivot)
        handshake.cgroup_paths = self.cgroup.paths
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
                for end in (parent_sock, hooks_parent):
                    if end:
                        end.close()
                if ready_r is not None:
                    os.close(ready_r)
                if self.stdio and not terminal:
                    for target, fd in enumerate(self.stdio):
                        if fd != target:
                            os.dup2(fd, target)
                container_init(self.spec, self.bundle, self.cgroup.join, err_w, child_sock, self.report,
                               self.seccomp_bpf, self.userns_fd, helper_fd, handshake)
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
            for end in (child_sock, hooks_child):
                if end:
                    end.close()
            if ready_w is not None:
                os.close(ready_w)
        self.pid = pid
        try:
            if hooks_parent is not None:
                self._runtime_hooks(hooks_parent)
            created = ready_r is not None and os.read(ready_r, 1) == b"c"
            if ready_r is not None:
                os.close(ready_r)
            err = b""
            while not created and (chunk := os.read(err_r, 65536)):
                err += chunk
            os.close(err_r)
            if err:
                os.waitpid(pid, 0)
                message, code = exec_failure(json.loads(err), self.spec["process"]["args"])
                raise StartError(f"failed to start container: {message}", code)
            if ready_r is not None and not created:
                os.waitpid(pid, 0)
                raise StartError("failed to start container: its first process ended during set-up")
            if terminal:
                import socket

                _, fds, _, _ = socket.recv_fds(parent_sock, 16, 1)
                self.console = fds[0]
                parent_sock.close()
        except BaseException:
            self._kill_and_reap()
            self.cgroup.destroy()
            raise

    def _runtime_hooks(self, sock) -> None:
        """Between fork and pivot_root: the child says "H" once its namespaces and mounts exist;
        we run prestart and createRuntime hooks and answer with the state (or the error)."""
        from pocketbox.runtime.hooks import HookError, hook_state, run_hooks

        try:
            if sock.recv(1) != b"H":
                return  # the child failed before: the error pipe says why
            state = hook_state(self.id, "creating", self.pid, self.bundle, self.spec.get("annotations"))
            reply = state
            try:
                for kind in IN_RUNTIME_HOOKS:
                    run_hooks(kind, (self.spec.get("hooks") or {}).get(kind) or [], state)
            except HookError as e:
                reply = {"error": str(e)}
            sock.sendall(json.dumps(reply).encode() + b"\n")
        finally:
            sock.close()

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
