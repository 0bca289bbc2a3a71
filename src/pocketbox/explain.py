"""The teaching channel: `pocketbox --explain ...` prints, as it happens, each real act of every
layer (registry request, layer unpack, namespace, mount, cgroup write, capability, exec, exit).

Each event is emitted by the code that performed the act, right after it succeeded, so the
lines cannot drift from what pocketbox does. Off by default; when off, emit() returns at once.

    --explain / POCKETBOX_EXPLAIN=1      one line per event on stderr
    --explain=json / POCKETBOX_EXPLAIN=json   JSON lines, for tools and tests"""
import os
import time

_fd: int | None = None
_json = False


def enable(mode: str = "text") -> None:
    """Turn explain on for this process and the processes it starts (through the environment)."""
    global _fd, _json
    _json = mode == "json"
    if _fd is None:
        _fd = os.dup(2)  # our own copy: the container's stderr may take fd 2 over later
    os.environ["POCKETBOX_EXPLAIN"] = "json" if _json else "1"


def enabled() -> bool:
    return _fd is not None


def from_environment() -> None:
    value = os.environ.get("POCKETBOX_EXPLAIN", "")
    if value and value != "0":
        enable("json" if value == "json" else "text")


def emit(kind: str, what: str, call: str = "", man: str = "", **fields) -> None:
    """One event: `kind` (registry, layer, namespace, mount, cgroup, ...), a sentence in the words
    of the course, the system-level act, and the man page that explains it."""
    if _fd is None:
        return
    if _json:
        import json

        line = json.dumps({"time": time.time(), "pid": os.getpid(), "kind": kind, "what": what,
                           **({"call": call} if call else {}), **({"man": man} if man else {}), **fields})
    else:
        line = f"[explain] {kind}: {what}" + (f"  -> {call}" if call else "") + (f"  ({man})" if man else "")
    try:
        os.write(_fd, (line + "\n").encode())
    except OSError:
        pass


# What each act reported by the runtime means, in the course's words, and the call behind it.
# The values come from the code that just performed the act (runtime/*.py call report() with them).
ACTS = {
    "cgroup": ("write {value!r} to the container's cgroup file {file}", "write({file}, {value!r})",
               "man 7 cgroups"),
    "fork": ("start the container's first process, pid {pid} on the host ({namespace})",
             "unshare(CLONE_NEWPID); fork()", "man 7 pid_namespaces"),
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
    "execve": ("run the container's command {argv}", "execve({path!r}, {argv}, env={env})", "man 2 execve"),
    "setns": ("join the container's {namespace} namespace", "setns(/proc/{pid}/ns/{namespace})", "man 2 setns"),
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
