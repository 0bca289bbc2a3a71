"""The OCI runtime's operations on a bundle, as the runtime-spec names them (create, start,
state, kill, delete) and as runc adds them (run, exec, ps, pause, resume, update).

Each takes the runtime's --root and a container id, keeps its record in state_dir, and reaches
the container only through what the bundle said (config.json) and what the kernel shows (the
pid, the cgroup). Errors are OCIError with runc's messages; cli/runc.py prints them."""
import os
import _signal as signal  # the C module: signal.py builds enums, and importing enum delays start-up

from pocketbox import jsonlite
from pocketbox.runtime import state_dir
from pocketbox.runtime.state_dir import OCIError

SECCOMP_CACHE = "/var/cache/pocketbox-runc/seccomp"  # compiled filters by the hash of their section
SIGNALS = {name[3:]: int(getattr(signal, name)) for name in dir(signal)
           if name.startswith("SIG") and not name.startswith("SIG_") and name[3:].isalpha()}


def parse_signal(text: str) -> int:
    """"KILL", "SIGKILL", "kill" or "9"."""
    if text.isdigit():
        return int(text)
    name = text.upper().removeprefix("SIG")
    if name not in SIGNALS:
        raise OCIError(f"unknown signal {text!r}")
    return SIGNALS[name]


def load_bundle(bundle: str) -> dict:
    path = os.path.join(bundle, "config.json")
    try:
        with open(path) as f:
            spec = jsonlite.load(f)
    except FileNotFoundError:
        raise OCIError(f"JSON specification file config.json not found in {bundle}") from None
    except (OSError, ValueError) as e:
        raise OCIError(f"cannot read {path}: {e}") from None
    for key in ("process", "root"):
        if not isinstance(spec.get(key), dict):
            raise OCIError(f"config.json: {key} is required")
    if not spec["process"].get("args"):
        raise OCIError("args must not be empty")
    if not os.path.isdir(os.path.join(bundle, spec["root"].get("path", ""))):
        raise OCIError(f"rootfs ({spec['root'].get('path')}) does not exist")
    for ns in (spec.get("linux") or {}).get("namespaces") or []:
        if ns.get("path") and not os.path.exists(ns["path"]):
            raise OCIError(f"namespace {ns['type']} path {ns['path']}: no such file or directory")
    seccomp = (spec.get("linux") or {}).get("seccomp") or {}
    if seccomp.get("listenerPath"):
        raise OCIError("linux.seccomp.listenerPath: seccomp notification listeners are not supported")
    return spec


def _write_pid_file(path: str | None, pid: int) -> None:
    if path:  # (whole or not at all: engines read it as soon as we exit)
        tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp")
        with open(tmp, "w") as f:
            f.write(str(pid))
        os.rename(tmp, path)


def send_console(socket_path: str, master: int) -> None:
    """The console-socket protocol: the pty master, sent with SCM_RIGHTS over a unix socket."""
    import socket

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(socket_path)
        socket.send_fds(s, [b"/dev/ptmx"], [master])
    os.close(master)


def _check_terminal(spec: dict, console_socket: str | None, detached: bool) -> None:
    terminal = bool(spec["process"].get("terminal"))
    if terminal and detached and not console_socket:
        raise OCIError("cannot allocate tty if runc will detach without setting console socket")
    if console_socket and not terminal:
        raise OCIError("cannot use console socket if runc will not detach or allocate tty")


def create(root: str, container_id: str, bundle: str, console_socket: str | None = None,
           pid_file: str | None = None, preserve_fds: int = 0, no_pivot: bool = False) -> state_dir.ContainerState:
    """Everything up to the container's execve; its first process then waits for `start`."""
    from pocketbox.runtime.run import Container, StartError

    bundle = os.path.abspath(bundle)
    spec = load_bundle(bundle)
    _check_terminal(spec, console_socket, detached=True)
    cgroup_path = _cgroup_path(spec, container_id)
    path = state_dir.reserve(root, container_id)
    try:
        state_dir.mark_creating(path, cgroup_path)
        fifo = os.path.join(path, state_dir.FIFO)
        os.mkfifo(fifo, 0o622)
        fifo_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)  # O_RDWR: opening never blocks; reads do
        try:
            container = Container(bundle, container_id, spec=spec, preserve_fds=preserve_fds, no_pivot=no_pivot,
                                  seccomp_cache=SECCOMP_CACHE)
            container.start(start_fifo=fifo_fd)
        except StartError as e:
            raise OCIError(str(e)) from None
        finally:
            os.close(fifo_fd)
        try:
            _save(path, container)
            if container.console is not None:
                send_console(console_socket, container.console)
            _write_pid_file(pid_file, container.pid)
        except BaseException:
            container.cgroup.kill_all()
            container.cgroup.destroy()
            raise
    except BaseException:
        state_dir.remove(path)
        raise
    return state_dir.load(root, container_id)


def _cgroup_path(spec: dict, container_id: str) -> str:
    from pocketbox.runtime.cgroups import CgroupPathError, spec_path

    try:
        return spec_path((spec.get("linux") or {}).get("cgroupsPath"), container_id)
    except CgroupPathError as e:
        raise OCIError(str(e)) from None


def _save(path: str, container) -> None:
    from pocketbox.processes import process_start_time

    state_dir.save(path, {"id": container.id, "pid": container.pid, "pidStartTime": process_start_time(container.pid),
                          "bundle": container.bundle,
                          "rootfs": os.path.join(container.bundle, container.spec["root"]["path"]),
                          "created": state_dir.now_rfc3339(), "cgroupPath": container.cgroup_path,
                          "config": container.spec})


def register(root: str, container) -> None:
    """Record a container an engine started in-process (pocketbox's own `run` and supervisor), as
    `create` + `start` would have: `state`, `list`, `ps`, `pause`, `kill` see it."""
    path = os.path.join(root, container.id)
    os.makedirs(path, 0o711, exist_ok=True)  # (a restart of the same container replaces the record)
    _save(path, container)


def unregister(root: str, container_id: str) -> None:
    state_dir.remove(os.path.join(root, container_id))


def run(root: str, container_id: str, bundle: str, console_socket: str | None = None, pid_file: str | None = None,
        detach: bool = False, preserve_fds: int = 0, no_pivot: bool = False) -> int:
    """create + start; in the foreground also wait (signals forwarded, a terminal relayed when no
    console socket takes it) and delete: the container's exit status."""
    from pocketbox.runtime.run import Container, StartError

    if detach:
        create(root, container_id, bundle, console_socket, pid_file, preserve_fds, no_pivot)
        try:
            start(root, container_id)
        except OCIError:
            delete(root, container_id, force=True)
            raise
        return 0
    bundle = os.path.abspath(bundle)
    spec = load_bundle(bundle)
    _check_terminal(spec, console_socket, detached=False)
    cgroup_path = _cgroup_path(spec, container_id)
    path = state_dir.reserve(root, container_id)
    container = None
    try:
        state_dir.mark_creating(path, cgroup_path)
        try:
            container = Container(bundle, container_id, spec=spec, preserve_fds=preserve_fds, no_pivot=no_pivot,
                                  seccomp_cache=SECCOMP_CACHE)
            container.start()
        except StartError as e:
            container = None
            raise OCIError(str(e)) from None
        _save(path, container)
        if console_socket and container.console is not None:
            send_console(console_socket, container.console)
            container.console = None
        _write_pid_file(pid_file, container.pid)
        hooks = (spec.get("hooks") or {}).get("poststart")
        if hooks:
            from pocketbox.runtime.hooks import HookError, hook_state, run_hooks

            try:
                run_hooks("poststart", hooks, hook_state(container_id, "running", container.pid, bundle,
                                                         spec.get("annotations")))
            except HookError as e:
                container.cgroup.kill_all()
                container.wait()
                raise OCIError(str(e)) from None
        return container.wait().code
    finally:
        if container is not None and os.path.exists(os.path.join(path, "state.json")):
            delete(root, container_id, force=True)
        else:
            state_dir.remove(path)


def start(root: str, container_id: str) -> None:
    """Let a created container run its command; then the poststart hooks."""
    c = state_dir.load(root, container_id)
    status = c.status()
    if status == "stopped":
        raise OCIError("cannot start a container that has stopped")
    if status != "created":
        raise OCIError("cannot start an already running container")
    try:
        fd = os.open(c.fifo(), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OCIError("cannot start an already running container") from None
    except OSError:  # ENXIO: nobody reads it any more, its first process is gone
        raise OCIError("cannot start a container that has stopped") from None
    try:
        os.unlink(c.fifo())  # first: from now on `state` says running
        os.write(fd, b"0")
    finally:
        os.close(fd)
    hooks = (c.spec.get("hooks") or {}).get("poststart")
    if hooks:
        from pocketbox.runtime.hooks import HookError, hook_state, run_hooks

        try:
            run_hooks("poststart", hooks, hook_state(c.id, "running", c.pid, c.data["bundle"],
                                                     c.spec.get("annotations")))
        except HookError as e:
            c.cgroup().kill_all()
            raise OCIError(str(e)) from None


def kill(root: str, container_id: str, sig: int = signal.SIGTERM, all_processes: bool = False) -> None:
    c = state_dir.load(root, container_id)
    if c.status() == "stopped":
        raise OCIError("container not running")
    if all_processes:
        cgroup = c.cgroup()
        paused = c.status() == "paused"
        for pid in cgroup.pids():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if paused and sig == signal.SIGKILL:
            cgroup.thaw()  # a frozen task dies only once thawed
        return
    try:
        os.kill(c.pid, sig)
    except ProcessLookupError:
        raise OCIError("container not running") from None


def delete(root: str, container_id: str, force: bool = False) -> None:
    """Remove a stopped (or, with force, any) container: its processes, cgroup and record; then
    the poststop hooks."""
    try:
        c = state_dir.load(root, container_id)
    except OCIError:
        path = os.path.join(root, container_id)
        state_dir.check_id(container_id)
        if os.path.isdir(path) and state_dir.abandoned(path):
            state_dir.clean_abandoned(path, container_id)  # what a killed `create` left
        if force:
            return
        raise
    status = c.status()
    if status in ("running", "paused") and not force:
        raise OCIError(f"cannot delete container {container_id} that is not stopped: {status}")
    cgroup = c.cgroup()
    if status != "stopped":  # created (never started) containers go without --force, as in runc
        cgroup.kill_all()
        if status == "paused":
            cgroup.thaw()
    cgroup.destroy()
    state_dir.remove(c.dir)
    hooks = (c.spec.get("hooks") or {}).get("poststop")
    if hooks:
        from pocketbox.runtime.hooks import HookError, hook_state, run_hooks

        try:
            run_hooks("poststop", hooks, hook_state(c.id, "stopped", 0, c.data["bundle"], c.spec.get("annotations")))
        except HookError as e:
            import sys

            print(f"pocketbox-runc: warning: {e}", file=sys.stderr)


def pause(root: str, container_id: str) -> None:
    c = state_dir.load(root, container_id)
    if c.status() not in ("running", "created"):
        raise OCIError("container not running")
    c.cgroup().freeze()


def resume(root: str, container_id: str) -> None:
    c = state_dir.load(root, container_id)
    if c.status() != "paused":
        raise OCIError("container not paused")
    c.cgroup().thaw()


def update(root: str, container_id: str, resources: dict) -> None:
    """New linux.resources for a live container's cgroup (the keys given; the rest stays)."""
    from pocketbox.runtime.run import limits_from_resources

    c = state_dir.load(root, container_id)
    if c.status() == "stopped":
        raise OCIError("container not running")
    try:
        c.cgroup().update(limits_from_resources(resources, devices=False))
    except OSError as e:
        raise OCIError(f"cannot update the cgroup: {e.strerror or e}") from None
    spec = c.spec.setdefault("linux", {}).setdefault("resources", {})
    for key, value in resources.items():
        if isinstance(value, dict):
            spec.setdefault(key, {}).update({k: v for k, v in value.items() if v is not None})
    state_dir.save(c.dir, c.data)


def processes(root: str, container_id: str) -> list[int]:
    c = state_dir.load(root, container_id)
    return sorted(c.cgroup().pids())


def exec_process(root: str, container_id: str, process: dict, detach: bool = False,
                 console_socket: str | None = None, pid_file: str | None = None, preserve_fds: int = 0) -> int:
    """A new process in a running container, with the container's seccomp filter; returns its
    exit status (0 once it runs, with `detach`)."""
    from pocketbox.errors import PocketboxError
    from pocketbox.runtime.exec import exec_in
    from pocketbox.runtime.run import StartError, seccomp_program

    c = state_dir.load(root, container_id)
    status = c.status()
    if status == "stopped":
        raise OCIError("cannot exec in a stopped container")
    if status == "paused":
        raise OCIError("cannot exec in a paused container")
    terminal = bool(process.get("terminal"))
    if terminal and detach and not console_socket:
        raise OCIError("cannot allocate tty if runc will detach without setting console socket")
    if console_socket and not terminal:
        raise OCIError("cannot use console socket if runc will not detach or allocate tty")
    try:
        bpf = seccomp_program(c.spec, SECCOMP_CACHE)
    except StartError as e:
        raise OCIError(str(e)) from None
    process = dict(process, stdinOpen=True)
    on_console = (lambda master, _child: send_console(console_socket, master)) if console_socket else None
    try:
        return exec_in(c.pid, process, c.cgroup().paths, seccomp_bpf=bpf, on_console=on_console,
                       on_pid=lambda pid: _write_pid_file(pid_file, pid) if pid_file else None,
                       orphan=detach, preserve_fds=preserve_fds)
    except PocketboxError as e:
        raise OCIError(str(e)) from None
