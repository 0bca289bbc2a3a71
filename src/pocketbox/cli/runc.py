"""`pocketbox-runc`: pocketbox's runtime behind runc's command line, the interface podman
(with conmon), containerd (with its shim) and CRI-O use to run containers.

    pocketbox-runc [global options] COMMAND [command options] ARGS...

The parser follows runc's (urfave/cli): `-flag` and `--flag`, `--flag=value`, options stop at
the first argument. Errors are runc's: the message through the log (text or json, --log or
stderr), exit 1; an unknown command exits 3. The work is in runtime/operations.py."""
import os
import sys

from pocketbox import __version__

SPEC_VERSION = "1.0.2"
GLOBAL = {"root": True, "log": True, "log-format": True, "debug": False, "systemd-cgroup": False,
          "criu": True, "rootless": True, "help": False, "h": False, "version": False, "v": False}
PROCESS_FLAGS = {"console-socket": True, "pid-file": True, "preserve-fds": True}
CREATE = {"bundle": True, "b": True, "no-pivot": False, "no-new-keyring": False, **PROCESS_FLAGS}
COMMANDS = {  # name -> (flags: name -> takes a value, arguments: (at least, at most or None), summary)
    "create": (CREATE, (1, 1), "create a container"),
    "run": ({**CREATE, "detach": False, "d": False, "keep": False, "no-subreaper": False}, (1, 1),
            "create and run a container"),
    "start": ({}, (1, 1), "executes the user defined process in a created container"),
    "state": ({}, (1, 1), "output the state of a container"),
    "kill": ({"all": False, "a": False}, (1, 2), "kill sends the specified signal (default: SIGTERM) to the "
                                                 "container's init process"),
    "delete": ({"force": False, "f": False}, (1, 1), "delete any resources held by the container"),
    "exec": ({**PROCESS_FLAGS, "cwd": True, "env": True, "e": True, "tty": False, "t": False, "user": True,
              "u": True, "additional-gids": True, "g": True, "process": True, "p": True, "detach": False, "d": False,
              "process-label": True, "apparmor": True, "no-new-privs": False, "cap": True, "c": True,
              "cgroup": True, "ignore-paused": False}, (1, None), "execute new process inside the container"),
    "ps": ({"format": True, "f": True}, (1, None), "ps displays the processes running inside a container"),
    "list": ({"format": True, "f": True, "quiet": False, "q": False}, (0, 0), "lists containers started by "
                                                                              "pocketbox-runc with the given root"),
    "pause": ({}, (1, 1), "pause suspends all processes inside the container"),
    "resume": ({}, (1, 1), "resumes all processes that have been previously paused"),
    "update": ({"resources": True, "r": True, "blkio-weight": True, "cpu-period": True, "cpu-quota": True,
                "cpu-share": True, "cpuset-cpus": True, "cpuset-mems": True, "memory": True,
                "memory-reservation": True, "memory-swap": True, "pids-limit": True}, (1, 1),
               "update container resource constraints"),
    "features": ({}, (0, 0), "show the enabled features"),
    "spec": ({"bundle": True, "b": True, "rootless": False}, (0, 0), "create a new specification file"),
}
MULTI = {"env", "e", "cap", "c", "additional-gids", "g"}
SHORT = {"b": "bundle", "d": "detach", "a": "all", "f": "force", "e": "env", "t": "tty", "u": "user",
         "g": "additional-gids", "p": "process", "c": "cap", "q": "quiet", "r": "resources", "h": "help",
         "v": "version"}


class UsageError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def parse_flags(args: list[str], table: dict) -> tuple[dict, list[str]]:
    """Flags up to the first argument (or `--`), as urfave/cli reads them."""
    flags: dict = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        name, eq, value = a.lstrip("-").partition("=")
        if name not in table:
            raise UsageError(f"flag provided but not defined: -{name}")
        if table[name]:
            if not eq:
                i += 1
                if i >= len(args):
                    raise UsageError(f"flag needs an argument: -{name}")
                value = args[i]
        else:
            value = value.lower() not in ("false", "0") if eq else True
        key = SHORT.get(name, name)
        if name in MULTI:
            flags.setdefault(key, []).append(value)
        else:
            flags[key] = value
        i += 1
    return flags, args[i:]


class Log:
    """runc's logging: errors (and --debug lines) as logrus text or JSON, to --log or stderr."""

    def __init__(self, path: str | None, fmt: str, debug: bool):
        self.path, self.fmt, self.debug_on = path, fmt, debug

    def write(self, level: str, message: str) -> None:
        import time

        t = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"
        if self.fmt == "json":
            import json

            line = json.dumps({"level": level, "msg": message, "time": stamp})
        else:
            line = f'time="{stamp}" level={level} msg="{_quoted(message)}"'
        if self.path:
            try:
                with open(self.path, "a") as f:
                    f.write(line + "\n")
            except OSError:
                pass
            if level == "error":
                print(message, file=sys.stderr)
        else:
            print(line, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = Log(None, "text", False)
    try:
        flags, rest = parse_flags(argv, GLOBAL)
        log = Log(flags.get("log"), flags.get("log-format", "text"), bool(flags.get("debug")))
        if log.fmt not in ("text", "json"):
            raise UsageError(f"invalid log-format: {log.fmt}")
        if flags.get("version"):
            print(f"pocketbox-runc version {__version__}\nspec: {SPEC_VERSION}")
            return 0
        if flags.get("help") or not rest or rest[0] == "help":
            topic = rest[1] if rest and rest[0] == "help" and len(rest) > 1 else None
            return _help(topic)
        command, rest = rest[0], rest[1:]
        if command not in COMMANDS:
            if command in ("checkpoint", "restore", "events", "init"):
                raise UsageError(f"{command}: not supported by pocketbox-runc")
            raise UsageError(f"No help topic for '{command}'", 3)
        if flags.get("systemd-cgroup"):
            raise UsageError("--systemd-cgroup: pocketbox-runc manages cgroups itself (cgroupfs); "
                             "systemd cgroups are not supported")
        table, (least, most), _ = COMMANDS[command]
        if rest and rest[0] in ("--help", "-h", "-help"):
            return _help(command)
        options, args = parse_flags(rest, table)
        if len(args) < least or (most is not None and len(args) > most):
            exactly = "exactly" if least == most else "minimum"
            raise UsageError(f'"{command}" requires {exactly} {least} argument(s)' if least else
                             f'"{command}" requires no arguments')
        root = flags.get("root", "/run/pocketbox-runc")
        if log.debug_on:
            log.write("debug", f"{command} {' '.join(rest)} (root {root})")
        return COMMAND_FUNCTIONS[command](root, options, args) or 0
    except UsageError as e:
        log.write("error", str(e))
        return e.code
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # OCIError and anything the kernel refused: one line, no traceback
        from pocketbox.errors import PocketboxError
        from pocketbox.runtime.state_dir import OCIError

        if isinstance(e, (OCIError, PocketboxError, OSError, ValueError)):
            log.write("error", _message(e))
        elif os.environ.get("POCKETBOX_DEBUG"):
            raise
        else:  # a bug: still one line, and how to see more
            log.write("error", f"internal error: {type(e).__name__}: {e} (POCKETBOX_DEBUG=1 shows the traceback)")
        return 1


def _quoted(message: str) -> str:
    """logrus's text format quotes a message Go's way; this is its common part."""
    return message.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _message(e: Exception) -> str:
    if isinstance(e, OSError) and e.strerror:
        return f"{e.strerror}{': ' + str(e.filename) if e.filename else ''}"
    return str(e)


def _help(command: str | None) -> int:
    if command and command in COMMANDS:
        table, _, summary = COMMANDS[command]
        print(f"NAME:\n   pocketbox-runc {command} - {summary}\n\nOPTIONS:")
        for name, takes in table.items():
            if len(name) > 1:
                print(f"   --{name}{' value' if takes else ''}")
        return 0
    if command:
        print(f"No help topic for '{command}'", file=sys.stderr)
        return 3
    print("NAME:\n   pocketbox-runc - pocketbox's OCI runtime, with runc's command line\n\nUSAGE:\n"
          "   pocketbox-runc [global options] command [command options] [arguments...]\n\nCOMMANDS:")
    for name, (_, _, summary) in COMMANDS.items():
        print(f"   {name:10} {summary}")
    print("\nGLOBAL OPTIONS:\n   --root value        root directory for storage of container state "
          "(default: \"/run/pocketbox-runc\")\n   --log value         set the log file to write runtime logs to\n"
          "   --log-format value  set the log format ('text' (default), or 'json')\n   --debug\n"
          "   --systemd-cgroup    (not supported)\n   --version, -v")
    return 0


def _number(options: dict, name: str, default: int = 0) -> int:
    try:
        return int(options.get(name, default))
    except ValueError:
        raise UsageError(f"invalid value {options[name]!r} for flag -{name}") from None


# --- the commands ------------------------------------------------------------------------------
def cmd_create(root, o, args):
    from pocketbox.runtime import operations

    operations.create(root, args[0], o.get("bundle", "."), o.get("console-socket"), o.get("pid-file"),
                      _number(o, "preserve-fds"), bool(o.get("no-pivot")))


def cmd_run(root, o, args):
    from pocketbox.runtime import operations

    return operations.run(root, args[0], o.get("bundle", "."), o.get("console-socket"), o.get("pid-file"),
                          bool(o.get("detach")), _number(o, "preserve-fds"), bool(o.get("no-pivot")))


def cmd_start(root, o, args):
    from pocketbox.runtime import operations

    operations.start(root, args[0])


def cmd_state(root, o, args):
    import json

    from pocketbox.runtime import state_dir

    print(json.dumps(state_dir.load(root, args[0]).oci_state(), indent=2))


def cmd_kill(root, o, args):
    from pocketbox.runtime import operations

    operations.kill(root, args[0], operations.parse_signal(args[1] if len(args) > 1 else "SIGTERM"),
                    bool(o.get("all")))


def cmd_delete(root, o, args):
    from pocketbox.runtime import operations

    operations.delete(root, args[0], bool(o.get("force")))


def cmd_pause(root, o, args):
    from pocketbox.runtime import operations

    operations.pause(root, args[0])


def cmd_resume(root, o, args):
    from pocketbox.runtime import operations

    operations.resume(root, args[0])


def cmd_ps(root, o, args):
    import json

    from pocketbox.runtime import operations

    pids = operations.processes(root, args[0])
    fmt = o.get("format", "table")
    if fmt == "json":
        print(json.dumps(pids))
        return 0
    if fmt != "table":
        raise UsageError(f"invalid format option {fmt}")
    import subprocess

    out = subprocess.run(["ps", *(args[1:] or ["-ef"])], capture_output=True, text=True)
    if out.returncode != 0:
        raise UsageError(out.stderr.strip() or "ps failed")
    lines = out.stdout.splitlines()
    column = lines[0].split().index("PID") if lines and "PID" in lines[0].split() else 1
    print(lines[0] if lines else "")
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)


def cmd_list(root, o, args):
    import json

    from pocketbox.runtime import state_dir

    states = [c.oci_state() for c in state_dir.all_states(root)]
    fmt = o.get("format", "table")
    if o.get("quiet"):
        for s in states:
            print(s["id"])
    elif fmt == "json":
        print(json.dumps(states or None))
    elif fmt == "table":
        rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]] + \
               [[s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], "root"] for s in states]
        widths = [max(12, max(len(r[i]) for r in rows) + 3) for i in range(6)]
        for r in rows:
            print("".join(cell.ljust(w) for cell, w in zip(r[:-1], widths)) + r[-1])
    else:
        raise UsageError(f"invalid format option {fmt}")


def cmd_update(root, o, args):
    import json

    from pocketbox.runtime import operations

    if "resources" in o:
        source = o["resources"]
        try:
            resources = json.load(sys.stdin) if source == "-" else json.load(open(source))
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read the resources from {source}: {e}") from None
    else:
        resources = {}
    mapping = {"memory": ("memory", "limit"), "memory-reservation": ("memory", "reservation"),
               "memory-swap": ("memory", "swap"), "cpu-period": ("cpu", "period"), "cpu-quota": ("cpu", "quota"),
               "cpu-share": ("cpu", "shares"), "cpuset-cpus": ("cpu", "cpus"), "cpuset-mems": ("cpu", "mems"),
               "pids-limit": ("pids", "limit"), "blkio-weight": ("blockIO", "weight")}
    for flag, (section, key) in mapping.items():
        if flag in o:
            value = o[flag] if key in ("cpus", "mems") else _size(o[flag])
            resources.setdefault(section, {})[key] = value
    operations.update(root, args[0], resources)


def _size(text: str) -> int:
    """A number of bytes, or with a unit (512m, 1g) as `runc update --memory` takes them."""
    t = text.strip().lower()
    if len(t) > 1 and t.endswith("b") and t[-2] in "kmg":
        t = t[:-1]
    factor = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(t[-1:], 1)
    try:
        return int(t[:-1] if factor > 1 else t) * factor
    except ValueError:
        raise UsageError(f"invalid value {text!r}") from None


def cmd_exec(root, o, args):
    import json

    from pocketbox.runtime import operations, state_dir

    if "process" in o:
        try:
            with open(o["process"]) as f:
                process = json.load(f)
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read the process from {o['process']}: {e}") from None
    else:
        if len(args) < 2:
            raise UsageError("exec: no command given (args, or --process FILE)")
        base = state_dir.load(root, args[0]).spec["process"]
        process = json.loads(json.dumps(base))
        process["args"] = args[1:]
        process["terminal"] = bool(o.get("tty"))
        process["env"] = list(process.get("env", [])) + o.get("env", [])
        if "cwd" in o:
            process["cwd"] = o["cwd"]
        if "user" in o:
            uid, _, gid = o["user"].partition(":")
            try:
                process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
            except ValueError:
                raise UsageError(f"invalid --user {o['user']!r}: uid[:gid] as numbers") from None
        if o.get("additional-gids"):
            process.setdefault("user", {})["additionalGids"] = [int(g) for g in o["additional-gids"]]
        if o.get("no-new-privs"):
            process["noNewPrivileges"] = True
        for cap in o.get("cap", []):
            name = cap.upper() if cap.upper().startswith("CAP_") else "CAP_" + cap.upper()
            caps = process.setdefault("capabilities", {})
            for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
                if name not in caps.setdefault(kind, []):
                    caps[kind].append(name)
    if not process.get("args"):
        raise UsageError("args must not be empty")
    return operations.exec_process(root, args[0], process, bool(o.get("detach")), o.get("console-socket"),
                                   o.get("pid-file"), _number(o, "preserve-fds"))


def cmd_features(root, o, args):
    import json

    from pocketbox.runtime import oci_documents

    print(json.dumps(oci_documents.features(), indent=4))


def cmd_spec(root, o, args):
    import json

    from pocketbox.runtime import oci_documents

    path = os.path.join(o.get("bundle", "."), "config.json")
    if os.path.exists(path):
        raise UsageError("File config.json exists. Remove it first.")
    with open(path, "w") as f:
        json.dump(oci_documents.default_spec(rootless=bool(o.get("rootless"))), f, indent="\t")


COMMAND_FUNCTIONS = {"create": cmd_create, "run": cmd_run, "start": cmd_start, "state": cmd_state, "kill": cmd_kill,
                     "delete": cmd_delete, "exec": cmd_exec, "ps": cmd_ps, "list": cmd_list, "pause": cmd_pause,
                     "resume": cmd_resume, "update": cmd_update, "features": cmd_features, "spec": cmd_spec}


def entry() -> None:
    sys.exit(main())
