"""What the container's first process does before it becomes the user's command.

It runs in the child the runtime forked, already PID 1 of a new PID namespace, and enters the
container's cgroups first. Each step is one system call or a few; the order is runc's."""
import errno
import fcntl
import os
import struct

from pocketbox import explain, jsonlite as json, syscalls as sc
from pocketbox.processes import close_fds_except
from pocketbox.runtime import capabilities, rootfs

NAMESPACE_FLAGS = {"mount": sc.CLONE_NEWNS, "uts": sc.CLONE_NEWUTS, "ipc": sc.CLONE_NEWIPC,
                   "network": sc.CLONE_NEWNET, "cgroup": sc.CLONE_NEWCGROUP}
FLAG_NAMES = {"mount": "CLONE_NEWNS", "uts": "CLONE_NEWUTS", "ipc": "CLONE_NEWIPC", "network": "CLONE_NEWNET",
              "cgroup": "CLONE_NEWCGROUP"}
OVERLAY_ANNOTATION = "org.pocketbox.rootfs.overlay"
COPYUP_ANNOTATION = "org.pocketbox.volumes.copyup"  # destinations whose empty volume gets the image's files
INIT_ANNOTATION = "org.pocketbox.init"  # "true": pocketbox-exec stays as PID 1, an init (run --init)
EXEC_HELPER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pocketbox-exec")
EXEC_MAGIC = "pocketbox-exec"  # its argv[0]: run any other way, the helper refuses (csrc/pocketbox_exec.c)
MFD_EXEC = 0x10  # Linux 6.3+: says the memfd may be executed (refused as EINVAL by older kernels)
SIOCSIFFLAGS = 0x8914
IFF_UP, IFF_LOOPBACK, IFF_RUNNING = 0x1, 0x8, 0x40


class InitError(Exception):
    """Set-up failed; `code` is the exit status run reports (125, or 126/127 for exec)."""

    def __init__(self, message: str, code: int = 125):
        super().__init__(message)
        self.code = code


def sealed_exec_helper() -> int:
    """A sealed, close-on-exec memfd holding pocketbox-exec, the program that execs the container's
    command (so that /proc/self/exe at that moment is never a host file: CVE-2019-5736).
    Made by the runtime before it forks; without the program nothing runs (fail closed)."""
    try:
        with open(EXEC_HELPER, "rb") as f:
            program = f.read()
    except OSError as e:
        raise InitError(f"cannot read {EXEC_HELPER} ({e.strerror}): reinstall pocketbox") from None
    try:
        fd = os.memfd_create(EXEC_MAGIC, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING | MFD_EXEC)
    except OSError as e:
        if e.errno != errno.EINVAL:
            raise
        fd = os.memfd_create(EXEC_MAGIC, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(program)
    while view:
        view = view[os.write(fd, view):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE)
    return fd


def exec_failure(info: dict, args: list[str]) -> tuple[str, int]:
    """The message and exit code for what the child wrote to the error pipe: set-up's own message,
    or pocketbox-exec's errno from the final execve."""
    if "errno" in info:
        number = int(info["errno"])
        return f'exec: "{args[0]}": {os.strerror(number).lower()}', 127 if number == errno.ENOENT else 126
    return info["message"], info["code"]


class Handshake:
    """What the runtime and the container's first process say to each other between fork and
    execve, besides errors (err_fd) and the terminal (console_sock); all optional.

    hooks_sock   the runtime runs prestart/createRuntime hooks when told "H" (namespaces made,
                 mounts done, before pivot_root), and answers with the state the in-container
                 hooks get (a JSON line)
    ready_w      `create`: "c" once everything but the execve is done
    fifo_fd      `create`: read end of the start fifo (opened O_RDWR): one byte from `start` goes on
    preserve     fds 3..3+preserve-1 stay open into the command (runc --preserve-fds)
    no_pivot     move the rootfs onto / and chroot instead of pivot_root (a rootfs on ramfs)"""

    def __init__(self, hooks_sock=None, ready_w: int | None = None, fifo_fd: int | None = None, preserve: int = 0,
                 no_pivot: bool = False):
        self.hooks_sock, self.ready_w, self.fifo_fd, self.preserve = hooks_sock, ready_w, fifo_fd, preserve
        self.no_pivot = no_pivot
        self.cgroup_paths: dict[str, str] | None = None  # the container's own, bound at /sys/fs/cgroup
        self.state: dict | None = None  # from the runtime, for createContainer and startContainer hooks


def container_init(spec: dict, bundle: str, join_cgroup, err_fd: int, console_sock, report=None,
                   seccomp_bpf: bytes | None = None, userns_fd: int | None = None, helper_fd: int = -1,
                   handshake: Handshake | None = None) -> None:
    """Never returns: execs the container's command, or writes the failure to err_fd and exits."""
    try:
        # Not dumpable until execve: nothing in the container may ptrace us or open
        # /proc/1/exe (the host's python3) while pocketbox's own code still runs here.
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        report = report or explain.report
        handshake = handshake or Handshake()
        join_cgroup(report)  # before anything else: every process the container ever has is counted
        _setup(spec, bundle, console_sock, report, seccomp_bpf, userns_fd, handshake)
        _exec(spec["process"], err_fd, helper_fd, report,
              as_init=spec.get("annotations", {}).get(INIT_ANNOTATION) == "true",
              keep=range(3, 3 + handshake.preserve), before_exec=lambda: _wait_for_start(spec, handshake, report))
    except InitError as e:
        _fail(err_fd, str(e), e.code)
    except OSError as e:
        _fail(err_fd, f"{e.strerror or e}{': ' + str(e.filename) if e.filename else ''}", 125)
    except BaseException as e:  # anything else is a bug, reported the same way
        _fail(err_fd, f"{type(e).__name__}: {e}", 125)


def _wait_for_start(spec: dict, handshake: Handshake, report) -> None:
    """`create` ends here: tell the runtime we are ready, block until `start`, then run the
    startContainer hooks (in the container, after pivot_root)."""
    if handshake.ready_w is not None:
        os.write(handshake.ready_w, b"c")
        os.close(handshake.ready_w)
        report("created", waiting="for `start` (a byte on the start fifo)")
    if handshake.fifo_fd is not None:
        while not os.read(handshake.fifo_fd, 1):
            pass
        os.close(handshake.fifo_fd)
    hooks = (spec.get("hooks") or {}).get("startContainer")
    if hooks:
        from pocketbox.runtime.hooks import HookError, run_hooks

        try:
            run_hooks("startContainer", hooks, dict(handshake.state or {}, status="created"))
        except HookError as e:
            raise InitError(str(e)) from None


def _hook_handshake(spec: dict, handshake: Handshake, report) -> None:
    """Before pivot_root: the runtime's prestart and createRuntime hooks, then createContainer's here."""
    if handshake.hooks_sock is None:
        return
    handshake.hooks_sock.sendall(b"H")
    data = b""
    while not data.endswith(b"\n"):
        chunk = handshake.hooks_sock.recv(65536)
        if not chunk:
            raise InitError("the runtime went away while its hooks ran")
        data += chunk
    reply = json.loads(data)
    if "error" in reply:
        raise InitError(reply["error"])
    handshake.state = reply
    hooks = (spec.get("hooks") or {}).get("createContainer")
    if hooks:
        from pocketbox.runtime.hooks import HookError, run_hooks

        try:
            run_hooks("createContainer", hooks, dict(reply, status="creating"))
        except HookError as e:
            raise InitError(str(e)) from None
    report("hooks", ran="prestart, createRuntime (by the runtime), createContainer (here)")


def _fail(err_fd: int, message: str, code: int) -> None:
    try:
        os.write(err_fd, json.dumps({"message": message, "code": code}).encode())
    finally:
        os._exit(code)


def _setup(spec: dict, bundle: str, console_sock, report, seccomp_bpf: bytes | None = None,
           userns_fd: int | None = None, handshake: Handshake | None = None) -> None:
    # Import now: after pivot_root the host's Python library is out of reach.
    if spec["process"].get("terminal"):
        import socket  # noqa: F401
        import termios  # noqa: F401
    if seccomp_bpf is not None:
        from pocketbox.runtime import seccomp  # noqa: F401
    if spec["process"].get("rlimits"):
        import resource  # noqa: F401
    if spec.get("hooks"):
        from pocketbox.runtime import hooks  # noqa: F401
    _warn_unsupported(spec["process"], report)
    linux = spec.get("linux", {})
    for ns in linux.get("namespaces", []):  # namespaces prepared by the engine (the network's): join
        if ns.get("path") and ns["type"] in NAMESPACE_FLAGS:
            fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            try:
                sc.setns(fd, NAMESPACE_FLAGS[ns["type"]])
            finally:
                os.close(fd)
            report("join", namespace=ns["type"], path=ns["path"])
    wanted = {ns["type"] for ns in linux.get("namespaces", []) if not ns.get("path")}
    flags = 0
    for name, bit in NAMESPACE_FLAGS.items():
        if name in wanted:
            flags |= bit
    sc.unshare(flags)
    report("unshare", flags=" | ".join(FLAG_NAMES[n] for n in sorted(wanted) if n in FLAG_NAMES))
    if "network" in wanted:
        _loopback_up()
        report("link", name="lo", state="up")

    sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC)
    root = os.path.join(bundle, spec["root"]["path"])
    overlay = spec.get("annotations", {}).get(OVERLAY_ANNOTATION)
    if overlay:
        if userns_fd is not None:
            from pocketbox.runtime.userns import idmapped_lowers

            overlay = idmapped_lowers(overlay, os.path.join(bundle, "idmapped"), userns_fd, report)
        sc.mount("overlay", root, "overlay", 0, overlay)
        report("mount", source="overlay", target=root, fstype="overlay", options=overlay)
    else:
        sc.mount(root, root, None, sc.MS_BIND | sc.MS_REC)
    copy_up = set(filter(None, spec.get("annotations", {}).get(COPYUP_ANNOTATION, "").split("\n")))
    rootfs.mount_all(root, spec.get("mounts", []), report, copy_up,
                     None if "cgroup" in wanted else (handshake or Handshake()).cgroup_paths)
    if any(m["destination"] == "/dev" and m.get("type") == "tmpfs" for m in spec.get("mounts", [])):
        rootfs.make_devices(root, report, linux.get("devices") or [])
    elif linux.get("devices"):
        rootfs.add_devices(root, report, linux["devices"])
    if spec.get("rootfsPropagation"):
        rootfs.set_propagation(root, spec["rootfsPropagation"], report)
    _hook_handshake(spec, handshake or Handshake(), report)
    if handshake and handshake.no_pivot:
        rootfs.move_root(root, report)
    else:
        rootfs.pivot(root, report)
    _sysctls(linux.get("sysctl") or {}, report, {ns["type"] for ns in linux.get("namespaces", [])})
    # (before /proc/sys becomes read-only)
    rootfs.mask_paths(linux.get("maskedPaths", []), linux.get("readonlyPaths", []), report)
    if spec.get("hostname") and "uts" in wanted:
        sc.sethostname(spec["hostname"])
        report("sethostname", name=spec["hostname"])
    if spec.get("domainname") and "uts" in wanted:
        with open("/proc/sys/kernel/domainname", "w") as f:
            f.write(spec["domainname"])
        report("setdomainname", name=spec["domainname"])

    process = spec["process"]
    _rlimits(process.get("rlimits") or [], report)
    _stdio(process, console_sock)
    cwd = process.get("cwd", "/")
    if process.get("oomScoreAdj") is not None:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process["oomScoreAdj"]))
        report("oom_score_adj", value=process["oomScoreAdj"])
    os.umask(0o022)
    if userns_fd is None:
        _make_cwd(cwd)
    if spec["root"].get("readonly"):
        rootfs.readonly_root(report)
    if userns_fd is not None:  # last: every privileged step above was done as the host's root
        sc.setns(userns_fd, sc.CLONE_NEWUSER)
        os.close(userns_fd)
        report("userns", host=(linux.get("uidMappings") or [{}])[0].get("hostID"))
        os.setresgid(0, 0, 0)  # the container's root (our ids were still the host's root)
        os.setresuid(0, 0, 0)
        _make_cwd(cwd)  # as the container's root: never as the host's, in a bind-mounted host dir
    _switch_user(process, report, seccomp_bpf)
    user_umask = (process.get("user") or {}).get("umask")
    if user_umask is not None:
        os.umask(int(user_umask))
    try:
        os.chdir(cwd)
    except OSError as e:
        raise InitError(f"cannot chdir to working directory {cwd!r}: {e.strerror}", 126) from None
    if not os.getcwd().startswith("/"):
        raise InitError(f"working directory {cwd!r} is outside the container", 126)


def _warn_unsupported(process: dict, report) -> None:
    """AppArmor and SELinux labels need an LSM pocketbox does not drive: said, then ignored."""
    import sys

    for key in ("apparmorProfile", "selinuxLabel"):
        if process.get(key):
            print(f"pocketbox: warning: process.{key} {process[key]!r} is ignored (not supported)", file=sys.stderr)


IPC_SYSCTLS = {"kernel.sem", "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced"}


def sysctl_namespace(key: str) -> str | None:
    """The namespace a sysctl belongs to (runc's list), or None: it is the whole machine's."""
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key.startswith("net."):
        return "network"
    if key in ("kernel.hostname", "kernel.domainname"):
        return "uts"
    return None


def _sysctls(values: dict, report, namespaces: set[str]) -> None:
    """linux.sysctl (--sysctl): written in the container's own namespaces. A key of a namespace
    the container shares with the host, or of none, would change the whole machine: refused."""
    for key, value in values.items():
        if "/" in key or ".." in key:
            raise InitError(f"invalid sysctl name {key!r}")
        if sysctl_namespace(key) not in namespaces:
            raise InitError(f"sysctl {key!r} is not in a separate kernel namespace of the container")
        try:
            with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                f.write(value)
        except OSError as e:
            raise InitError(f"cannot set sysctl {key}={value}: {e.strerror}") from None
        report("sysctl", key=key, value=value)


def _rlimits(limits: list[dict], report) -> None:
    """--ulimit: setrlimit while we still hold CAP_SYS_RESOURCE (raising a hard limit needs it)."""
    if not limits:
        return
    import resource

    for rl in limits:
        which = getattr(resource, rl["type"], None)
        if which is None:
            raise InitError(f"unknown rlimit {rl['type']}")
        infinity = resource.RLIM_INFINITY
        soft, hard = (infinity if v >= 2**63 else v for v in (rl["soft"], rl["hard"]))
        try:
            resource.setrlimit(which, (soft, hard))
        except (OSError, ValueError) as e:
            raise InitError(f"cannot set {rl['type']} to {rl['soft']}:{rl['hard']}: {e}") from None
        report("setrlimit", resource=rl["type"], soft=rl["soft"], hard=rl["hard"])


def _make_cwd(cwd: str) -> None:
    """Docker creates a missing working directory (after pivot_root: resolved in the container)."""
    if not os.path.isdir(cwd):
        try:
            os.makedirs(cwd, 0o755)
        except OSError as e:
            raise InitError(f"cannot use working directory {cwd!r}: {e.strerror}", 126) from None


def _loopback_up() -> None:
    """ip link set lo up, with one ioctl (pyroute2 would cost 190 ms of imports here, and even the
    socket module's enums 3 ms: the C module _socket is enough)."""
    import _socket

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14s", b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING, b""))
    finally:
        s.close()


def _stdio(process: dict, console_sock) -> None:
    """A terminal: a new pty from the container's own devpts, its master sent to the runtime."""
    if process.get("terminal"):
        import socket
        import termios

        master, slave = os.openpty()
        size = process.get("consoleSize")
        if size:  # before exec, so that the command's first look at the terminal sees the right size
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size["height"], size["width"], 0, 0))
        socket.send_fds(console_sock, [b"pty"], [master])
        os.close(master)
        console_sock.close()
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
    else:
        os.setsid()


def _switch_user(process: dict, report, seccomp_bpf: bytes | None = None) -> None:
    """Capabilities, user and groups, no_new_privs, seccomp: runc's order. Loading a filter needs
    CAP_SYS_ADMIN or no_new_privs: without NNP it goes first, while we still hold every capability,
    with NNP last (every remaining step is a call the default profile allows)."""
    nnp = bool(process.get("noNewPrivileges"))
    if seccomp_bpf is not None and not nnp:  # (an empty program is refused by the kernel: fail closed)
        _load_seccomp(seccomp_bpf, report)
    caps = process.get("capabilities", {})
    bounding = capabilities.mask(caps.get("bounding", []))
    capabilities.drop_bounding(bounding)
    user = process.get("user", {})
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    os.setgroups([int(g) for g in user.get("additionalGids", [])])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    capabilities.apply(capabilities.mask(caps.get("effective", [])), capabilities.mask(caps.get("permitted", [])),
                       capabilities.mask(caps.get("inheritable", [])), capabilities.mask(caps.get("ambient", [])))
    report("capabilities", effective=f"{capabilities.mask(caps.get('effective', [])):016x}", bounding=f"{bounding:016x}")
    if process.get("noNewPrivileges"):
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        report("prctl", option="PR_SET_NO_NEW_PRIVS")
    report("setuid", uid=uid, gid=gid)
    if seccomp_bpf is not None and nnp:
        _load_seccomp(seccomp_bpf, report)


def _load_seccomp(bpf: bytes, report) -> None:
    from pocketbox.runtime import seccomp

    seccomp.load(bpf)
    report("seccomp", instructions=len(bpf) // 8)


def find_executable(name: str, path_env: str) -> str:
    """The container's PATH lookup (after pivot_root, so it searches the container's files)."""
    if "/" in name:
        return name
    for d in (path_env or "").split(":"):
        candidate = os.path.join(d or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise InitError(f'exec: "{name}": executable file not found in $PATH', 127)


def _exec(process: dict, err_fd: int, helper_fd: int, report=None, as_init: bool = False, keep=(),
          before_exec=None) -> None:
    """execve the sealed pocketbox-exec, which resets signals and execs the command (its errno, if
    that fails, comes back on err_fd). Every other fd of the runtime is closed (CVE-2024-21626).
    `as_init`: pocketbox-exec stays as PID 1 and runs the command as its child (run --init)."""
    args = process["args"]
    env = dict(e.split("=", 1) for e in process.get("env", []) if "=" in e)
    path = find_executable(args[0], env.get("PATH", ""))
    if before_exec is not None:  # (after the lookup: a command that is not there fails `create`)
        before_exec()
    (report or explain.report)("execve", path=path, argv=args, env=process.get("env", []),
                               via="pocketbox-exec from a sealed memfd" + (", which stays as PID 1 (an init that "
                                                                           "reaps and forwards signals)" if as_init
                                                                           else ""))
    close_fds_except([err_fd, helper_fd, *keep])
    for fd in keep:
        os.set_inheritable(fd, True)
    os.set_inheritable(err_fd, True)  # pocketbox-exec marks it close-on-exec for the last execve
    try:
        os.execve(helper_fd, [EXEC_MAGIC, f"init:{err_fd}" if as_init else str(err_fd), path, *args], env)
    except OSError as e:
        raise InitError(f"cannot run pocketbox-exec: {e.strerror}", 126) from None
