"""The teaching channel: `pocketbox --explain ...` prints, as it happens, each real act of every
layer (registry request, layer unpack, namespace, mount, cgroup write, capability, exec, exit).

Each event is emitted by the code that performed the act, right after it succeeded, so the
lines cannot drift from what pocketbox does. Off by default; when off, emit() returns at once.

    --explain / POCKETBOX_EXPLAIN=1      one line per event on stderr, grouped in the course's
                                         steps, paths and IDs shortened
    --explain=full / POCKETBOX_EXPLAIN=full   every event with its full paths and IDs
    --explain=json / POCKETBOX_EXPLAIN=json   JSON lines, for tools and tests"""
import os
import time

_fd: int | None = None
_json = False
_full = False
_last_step = _last_kind = ""
_folded = _owner = 0
FOLDED = ("cgroup", "cgroup-join", "mknod", "mask", "readonly")  # acts that come in runs of one rule each

# The course's steps, and the kinds of event in each (text mode prints a heading when the step changes)
STEPS = {
    "image": ("registry", "token", "manifest", "image", "layer", "pull"),
    "cgroups": ("cgroup", "cgroup-join", "bpf"),
    "namespaces": ("fork", "unshare", "join", "setns", "userns", "link", "network", "sethostname"),
    "filesystem": ("container", "mount", "copy-up", "mknod", "pivot_root", "umount", "mask", "readonly", "remount",
                   "idmap"),
    "security": ("capabilities", "prctl", "setuid", "seccomp"),
    "process": ("execve", "signal", "exit"),
    "cleanup": ("cleanup",),
    "build": ("build",),
}
STEP_OF = {kind: step for step, kinds in STEPS.items() for kind in kinds}
WIDTH = 160  # text mode: one event a line, the system call cut to fit
LONG_ID = r"\b([0-9a-f]{12})[0-9a-f]{52}\b"  # (compiled on use: importing `re` is a visible share of a run)


def enable(mode: str = "text") -> None:
    """Turn explain on for this process and the processes it starts (through the environment)."""
    global _fd, _json, _full
    _json, _full = mode == "json", mode == "full"
    if _fd is None:
        _fd = os.dup(2)  # our own copy: the container's stderr may take fd 2 over later
    os.environ["POCKETBOX_EXPLAIN"] = mode if mode in ("json", "full") else "1"


def enabled() -> bool:
    return _fd is not None


def output_fd() -> int | None:
    return _fd


def from_environment() -> None:
    value = os.environ.get("POCKETBOX_EXPLAIN", "")
    if value and value != "0":
        enable(value if value in ("json", "full") else "text")


def enable_fd(fd: int, mode: str) -> None:
    """Write events to an fd we were handed (the supervisor gets the CLI's, see relay below)."""
    global _fd, _json, _full
    _fd, _json, _full = fd, mode == "json", mode == "full"


def disable() -> None:
    global _fd
    if _fd is not None:
        os.close(_fd)
    _fd = None
    os.environ.pop("POCKETBOX_EXPLAIN", None)


def mode() -> str:
    return "json" if _json else "full" if _full else "text"


# The supervisor of a detached container does its acts (start, and at the end exit and clean-up)
# in its own process. `run -d --explain` hands it the CLI's explain fd until the container has
# started; `stop --explain` makes a FIFO in the container's directory that the supervisor writes
# its last events into, and relays them. Either way the events come from the acting code.
def relay_path(container_dir, mode_name: str) -> str:
    return os.path.join(str(container_dir), f"explain-{mode_name}.fifo")


def open_relay(container_dir) -> int | None:
    """CLI side: a FIFO for the supervisor's events (only when explain is on)."""
    if _fd is None:
        return None
    path = relay_path(container_dir, mode())
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    os.mkfifo(path, 0o600)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)


def finish_relay(container_dir, fd: int | None) -> None:
    """CLI side: copy what the supervisor wrote to our explain output; remove the FIFO."""
    if fd is None:
        return
    try:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                break
            os.write(_fd, chunk)
    finally:
        os.close(fd)
        try:
            os.unlink(relay_path(container_dir, mode()))
        except FileNotFoundError:
            pass


def join_relay(container_dir) -> None:
    """Supervisor side: if a CLI waits for our events, write them into its FIFO."""
    for name in ("json", "text", "full"):
        try:
            fd = os.open(relay_path(container_dir, name), os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:  # no FIFO, or nobody reading it any more
            continue
        enable_fd(fd, name)
        return


def emit(kind: str, what: str, call: str = "", man: str = "", **fields) -> None:
    """One event: `kind` (registry, layer, namespace, mount, cgroup, ...), a sentence in the words
    of the course, the system-level act, and the man page that explains it."""
    if _fd is None:
        return
    if _json:
        import json

        line = json.dumps({"time": time.time(), "pid": os.getpid(), "kind": kind, "what": what,
                           **({"call": call} if call else {}), **({"man": man} if man else {}), **fields})
    elif _full:
        line = f"[explain] {kind}: {what}" + (f"  -> {call}" if call else "") + (f"  ({man})" if man else "")
    else:
        line = _readable(kind, what, call, man)
    if line is None:
        return
    try:
        os.write(_fd, (line + "\n").encode())
    except OSError:
        pass


def _readable(kind: str, what: str, call: str, man: str) -> str | None:
    """The text form: a heading when the course's step changes, a run of acts of one kind folded
    into its first and a count, the state root as $ROOT, IDs cut to 12 characters, the system
    call shortened to one screen line. None: folded into the run before it."""
    global _last_step, _last_kind, _folded, _owner
    if _owner != os.getpid():  # a forked child starts its own account (its parent goes on with its own)
        _owner, _last_step, _last_kind, _folded = os.getpid(), "", "", 0
    if kind == _last_kind and kind in FOLDED:
        _folded += 1
        return None
    lines = [f"[explain]      (and {_folded} more like it)"] if _folded else []
    _last_kind, _folded = kind, 0
    root = os.environ.get("POCKETBOX_ROOT") or "/var/lib/pocketbox"
    import re

    short = lambda text: re.sub(LONG_ID, r"\1", text.replace(root, "$ROOT"))  # noqa: E731
    what, call = short(what), short(call)
    step = STEP_OF.get(kind, kind)
    if step != _last_step:
        lines.append(f"[explain] == {step} ==")
    _last_step = step
    line = f"[explain]   {what}"
    if call:
        room = max(40, WIDTH - len(line) - 4)
        line += "  -> " + (call if len(call) <= room else call[:room - 3] + "...")
    lines.append(line)
    return "\n".join(lines)


# What each act reported by the runtime means, in the course's words, and the call behind it.
# The values come from the code that just performed the act (runtime/*.py call report() with them).
ACTS = {
    "cgroup": ("write {value!r} to the container's cgroup file {file}", "write({file}, {value!r})",
               "man 7 cgroups"),
    "cgroup-join": ("enter the container's cgroup {dir} (its children will be counted there too)", "{act}",
                    "man 7 cgroups"),
    "fork": ("start the container's first process, pid {pid} on the host ({namespace})",
             "unshare(CLONE_NEWPID); {how}", "man 7 pid_namespaces"),
    "unshare": ("give the container its own namespaces", "unshare({flags})", "man 2 unshare"),
    "link": ("bring up {name} in the container's new network namespace", "ioctl(SIOCSIFFLAGS, {name}, IFF_UP)",
             "man 7 netdevice"),
    "mount": ("mount {fstype} on {target}", "mount({source!r}, {target!r}, {fstype!r}, {options!r})",
              "man 2 mount"),
    "copy-up": ("fill the new volume with the image's files at {source}", "copy {source} -> {target}", ""),
    "mknod": ("create device node {path} ({device})", "mknod({path!r}, S_IFCHR|0666, {device})", "man 2 mknod"),
    "pivot_root": ("make the container's filesystem the root (/)", "pivot_root(\".\", \".\") in {new_root}",
                   "man 2 pivot_root"),
    "umount": ("detach the host's filesystem from the container", "umount2({target!r}, {flags})", "man 2 umount2"),
    "mask": ("hide {path} from the container", "mount /dev/null or an empty tmpfs over {path}", "man 2 mount"),
    "readonly": ("make {path} read-only", "mount({path!r}, MS_BIND|MS_REMOUNT|MS_RDONLY)", "man 2 mount"),
    "remount": ("make the root filesystem read-only", "mount(\"/\", MS_BIND|MS_REMOUNT|MS_RDONLY)", "man 2 mount"),
    "sethostname": ("set the container's hostname to {name}", "sethostname({name!r})", "man 2 sethostname"),
    "capabilities": ("keep only the allowed capabilities (effective {effective}, bounding {bounding})",
                     "prctl(PR_CAPBSET_DROP, ...); capset(...)", "man 7 capabilities"),
    "prctl": ("forbid gaining privileges (setuid binaries, file capabilities)", "prctl({option}, 1)",
              "man 2 prctl"),
    "setuid": ("become user {uid}:{gid}", "setgroups(); setresgid({gid}); setresuid({uid})", "man 2 setresuid"),
    "seccomp": ("filter every later system call through the seccomp profile (forbidden ones fail with EPERM)",
                "seccomp(SECCOMP_SET_MODE_FILTER, {instructions} BPF instructions)", "man 2 seccomp"),
    "execve": ("run the container's command {argv}", "execve({path!r}, {argv}, env={env})", "man 2 execve"),
    "setns": ("join the container's {namespace} namespace", "setns(/proc/{pid}/ns/{namespace})", "man 2 setns"),
    "idmap": ("mount the {count} image layer(s) idmapped: their root-owned files belong to the container's root",
              "open_tree(OPEN_TREE_CLONE); mount_setattr(MOUNT_ATTR_IDMAP, userns); move_mount()", "man 2 mount_setattr"),
    "userns": ("enter the user namespace: root here is uid {host} on the host", "setns(userns, CLONE_NEWUSER)",
               "man 7 user_namespaces"),
    "join": ("join the {namespace} namespace prepared for the container", "setns(open({path!r}))", "man 2 setns"),
    "exit": ("the container's process ended: exit code {code}{oom}", "waitpid()", "man 2 waitpid"),
    "cleanup": ("remove {thing}", "{act}", ""),
    "signal": ("send {signal} to the container's PID 1 ({pid})", "kill({pid}, {signal})", "man 2 kill"),
}


def report(kind: str, **fields) -> None:
    """The runtime's report callback: one event for an act that just happened."""
    if _fd is None:
        return
    what, call, man = ACTS.get(kind, (kind, "", ""))
    values = dict(fields)
    if kind == "exit":
        values["oom"] = " (killed by the kernel's OOM killer)" if fields.get("oom_killed") else ""
    emit(kind, what.format(**values), call.format(**values), man, **fields)
