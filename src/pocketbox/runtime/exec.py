"""`exec`: a new process inside a running container's namespaces, cgroup and confinement.

    runtime (CLI)            child                              grandchild
    fork into the cgroup ->  join the container's v1 cgroups
                             setns: ipc, uts, net, pid, cgroup, mnt
                             fork() (a PID namespace is joined
                             by the children of the caller) --> PID n in the container
                             wait, pass on the exit status      chdir, user, capabilities,
                                                                no_new_privs, (pty), execve
"""
import json
import os

from pocketbox import explain, syscalls as sc
from pocketbox.errors import PocketboxError
from pocketbox.processes import close_fds_except
from pocketbox.runtime import cgroups, init

PR_SET_PDEATHSIG = 1
NAMESPACE_ORDER = [("ipc", sc.CLONE_NEWIPC), ("uts", sc.CLONE_NEWUTS), ("net", sc.CLONE_NEWNET),
                   ("pid", sc.CLONE_NEWPID), ("cgroup", sc.CLONE_NEWCGROUP), ("mnt", sc.CLONE_NEWNS),
                   ("user", sc.CLONE_NEWUSER)]  # the user namespace last, as the container's init enters it


TIMED_OUT = -1


def exec_in(pid: int, process: dict, cgroup_paths: dict, detach: bool = False, seccomp_bpf: bytes | None = None,
            timeout: float | None = None, stdio: tuple[int, int, int] | None = None, on_console=None,
            on_pid=None, orphan: bool = False, preserve_fds: int = 0) -> int:
    """Run `process` (OCI process object) in the container whose PID 1 is `pid`; returns its exit code.
    With `timeout`, a command still running after that many seconds is killed: TIMED_OUT.
    `stdio`: the fds that become its 0, 1, 2 (default: ours); `on_console(master_fd, child)` relays
    a terminal instead of our own (the API server's exec, whose client is a socket).
    The OCI runtime CLI's exec: `on_pid(pid)` learns the command's own pid (as the host sees it);
    `orphan` returns once it runs, leaving it (with our stdio) to our parent, the engine's
    subreaper; fds 3..3+preserve_fds-1 stay open into it."""
    terminal = bool(process.get("terminal"))
    if seccomp_bpf is not None:
        from pocketbox.runtime import seccomp  # noqa: F401  (imported now: after setns(mnt) the host's library is gone)
    if terminal:
        import socket
        import termios  # noqa: F401  (imported now: after setns(mnt) the host's library is gone)
    ns_fds, names = [], []
    for name, flag in NAMESPACE_ORDER:
        theirs, ours = f"/proc/{pid}/ns/{name}", f"/proc/self/ns/{name}"
        if os.stat(theirs).st_ino != os.stat(ours).st_ino:  # --network host shares ours: nothing to join
            ns_fds.append((os.open(theirs, os.O_RDONLY | os.O_CLOEXEC), flag))
            names.append(name)
    try:
        helper_fd = init.sealed_exec_helper()
    except init.InitError as e:
        raise PocketboxError(str(e), 126) from None
    err_r, err_w = os.pipe()
    pid_r, pid_w = os.pipe() if on_pid else (None, None)
    parent_sock, child_sock = socket.socketpair() if terminal else (None, None)  # noqa: F821 (imported above)
    child, born_in_unified = cgroups.fork_into(cgroup_paths)
    if child == 0:
        try:
            sc.prctl(sc.PR_SET_DUMPABLE, 0)  # inherited by the fork below: never dumpable inside the container
            os.close(err_r)
            if parent_sock:
                parent_sock.close()
            if pid_r is not None:
                os.close(pid_r)
            if stdio:
                for target, fd in enumerate(stdio):
                    if fd != target:
                        os.dup2(fd, target)
            if detach:
                os.setsid()
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
            elif not terminal and not process.get("stdinOpen"):  # without -i the command reads nothing of ours
                null = os.open("/dev/null", os.O_RDONLY)
                os.dup2(null, 0)
                os.close(null)
            close_fds_except([err_w, helper_fd, explain.output_fd(), child_sock and child_sock.fileno(), pid_w,
                              *(fd for fd, _ in ns_fds), *range(3, 3 + preserve_fds)])
            cgroups.join(cgroup_paths, born_in_unified, explain.report)
            for (fd, flag), name in zip(ns_fds, names):
                sc.setns(fd, flag)
                os.close(fd)
                explain.report("setns", namespace=name, pid=pid)
            grandchild = os.fork()
            if grandchild == 0:
                if pid_w is not None:
                    os.close(pid_w)
                _become(process, err_w, child_sock, seccomp_bpf, helper_fd, die_with_parent=timeout is not None,
                        keep=range(3, 3 + preserve_fds))
            if pid_w is not None:
                os.write(pid_w, str(grandchild).encode())
                os.close(pid_w)
            if orphan:  # the command is reparented to the engine's subreaper, which waits for it
                os._exit(0)
            if child_sock:
                child_sock.close()
            os.close(err_w)
            _, status = os.waitpid(grandchild, 0)
            os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status))
        except BaseException as e:
            try:
                os.write(err_w, json.dumps({"message": f"exec: {e}", "code": 126}).encode())
            finally:
                os._exit(126)
    for fd, _ in ns_fds:
        os.close(fd)
    os.close(helper_fd)
    os.close(err_w)
    if child_sock:
        child_sock.close()
    if pid_w is not None:
        os.close(pid_w)
        with os.fdopen(pid_r, "rb") as f:
            number = f.read()
        if number:
            on_pid(int(number))
    console = None
    if terminal:
        import socket as s

        try:
            _, fds, _, _ = s.recv_fds(parent_sock, 16, 1)
            console = fds[0] if fds else None
        finally:
            parent_sock.close()
    err = b""
    while chunk := os.read(err_r, 65536):
        err += chunk
    os.close(err_r)
    if err:
        os.waitpid(child, 0)
        raise PocketboxError(*init.exec_failure(json.loads(err), process["args"]))
    if detach:
        os.waitpid(child, 0)
        return 0
    if orphan:
        os.waitpid(child, 0)
        if console is not None and on_console is not None:
            on_console(console, child)
        return 0
    if console is not None and on_console is not None:
        on_console(console, child)
    elif console is not None:
        from pocketbox.runtime.tty import proxy

        proxy(console, True, pid=child)
    if timeout is not None and not _exited_within(child, timeout):
        os.kill(child, 9)
        os.waitpid(child, 0)
        return TIMED_OUT
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def _exited_within(pid: int, seconds: float) -> bool:
    """Whether the child `pid` exits within `seconds` (it is not reaped: the caller does that)."""
    fd = os.pidfd_open(pid)
    try:
        import select

        return bool(select.select([fd], [], [], seconds)[0])
    finally:
        os.close(fd)


def _become(process: dict, err_w: int, console_sock, seccomp_bpf: bytes | None, helper_fd: int,
            die_with_parent: bool = False, keep=()) -> None:
    """In the grandchild, inside every namespace: the same finishing steps as the container's init.
    `die_with_parent`: killing the runtime's child (a timeout) kills the command too."""
    try:
        if process.get("terminal"):
            init._stdio(process, console_sock)
        else:
            os.setsid()
        cwd = process.get("cwd", "/")
        parent = os.getppid()
        init._switch_user(process, explain.report, seccomp_bpf)
        os.umask(int((process.get("user") or {}).get("umask", 0o022)))
        if die_with_parent:  # (after the user switch, which would clear it)
            sc.prctl(PR_SET_PDEATHSIG, 9)
            if os.getppid() != parent:
                os._exit(137)
        try:
            os.chdir(cwd)
        except OSError as e:
            raise init.InitError(f"cannot chdir to {cwd!r}: {e.strerror}", 126) from None
        init._exec(process, err_w, helper_fd, explain.report, keep=keep)
    except init.InitError as e:
        init._fail(err_w, str(e), e.code)
    except BaseException as e:
        init._fail(err_w, f"{type(e).__name__}: {e}", 126)
