"""A running container taken apart for the anatomy view: its namespaces, cgroup, layers,
mounts, capabilities, seccomp status and processes, read from the kernel (/proc, the cgroup
files) and the container's record. Everything here only reads."""
import os
import stat

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")
CGROUP_FILES = {  # what a student compares with the flags: (v2 file, v1 hierarchy/file)
    "memory limit": ("memory.max", "memory/memory.limit_in_bytes"),
    "memory in use": ("memory.current", "memory/memory.usage_in_bytes"),
    "pids limit": ("pids.max", "pids/pids.max"),
    "pids in use": ("pids.current", "pids/pids.current"),
    "cpu quota": ("cpu.max", "cpu/cpu.cfs_quota_us"),
    "cpu time": ("cpu.stat", "cpuacct/cpuacct.usage"),
}


_LAYER_SIZES: dict[str, int] = {}


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def namespaces(pid: int, others: dict[int, str]) -> list[dict]:
    """Each namespace's inode; whether the host (this process's own namespaces: pocketbox runs in
    the host's) or another container (by name) shares it."""
    out = []
    for kind in NAMESPACES:
        try:
            inode = os.stat(f"/proc/{pid}/ns/{kind}").st_ino
        except OSError:
            continue
        host = os.stat(f"/proc/self/ns/{kind}").st_ino == inode
        shared = sorted(name for other, name in others.items() if _inode(other, kind) == inode)
        out.append({"type": kind, "inode": inode, "host": host, "shared_with": shared,
                    "path": f"/proc/{pid}/ns/{kind}"})
    return out


def _inode(pid: int, kind: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def cgroup(cg) -> dict:
    """The cgroup's directories and the files that hold its limits and usage, with their values."""
    files = []
    for label, (v2, v1) in CGROUP_FILES.items():
        if cg.mode == "v2":
            path = f"{cg.paths['unified']}/{v2}"
        else:
            hierarchy, _, name = v1.partition("/")
            d = cg.dir_of(hierarchy)
            path = f"{d}/{name}" if d else None
        value = _read(path) if path else None
        if value is not None:
            files.append({"what": label, "file": path, "value": value.splitlines()[0] if label == "cpu time" else value})
    return {"mode": cg.mode, "paths": cg.paths, "files": files}


def layers(record: dict) -> list[dict]:
    """The root filesystem as overlayfs stacks it: the upper dir on top, then the image's layers."""
    data = (record.get("GraphDriver") or {}).get("Data") or {}
    out = [{"name": "upper (the container's writes)", "path": data.get("UpperDir", ""), "writable": True}]
    for n, path in enumerate((data.get("LowerDir") or "").split(":")):
        if path:
            out.append({"name": f"layer {n + 1} from the top", "path": path, "writable": False})
    for entry in out:
        if entry["writable"]:
            entry["size"] = tree_size(entry["path"])
        else:  # an image layer never changes: measured once
            if entry["path"] not in _LAYER_SIZES:
                _LAYER_SIZES[entry["path"]] = tree_size(entry["path"])
            entry["size"] = _LAYER_SIZES[entry["path"]]
    return out


def tree_size(path: str) -> int:
    """Bytes of the regular files below `path` (symlinks not followed)."""
    total = 0
    try:
        for top, dirs, files, fd in os.fwalk(path):
            for name in files:
                try:
                    st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    total += st.st_size
    except OSError:
        pass
    return total


def layer_of(record: dict, path: str) -> dict:
    """Which layer last wrote `path` (the first from the top that has it, or says it was deleted).
    Each lookup is resolved inside that layer's directory: a link cannot lead out of it."""
    from pocketbox import syscalls as sc

    rel = os.path.normpath("/" + path).lstrip("/")
    if not rel or rel == ".":
        raise ValueError("give a path inside the container, such as /etc/hostname")
    for layer in layers_without_sizes(record):
        try:
            root = os.open(layer["path"], os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fd = sc.openat2(root, rel, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, 0,
                            sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
        except OSError:
            continue
        finally:
            os.close(root)
        try:
            st = os.fstat(fd)
        finally:
            os.close(fd)
        deleted = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0  # an overlay whiteout
        return {"layer": layer["name"], "path": layer["path"], "deleted": deleted, "size": st.st_size}
    return {"layer": None, "deleted": False}


def layers_without_sizes(record: dict) -> list[dict]:
    data = (record.get("GraphDriver") or {}).get("Data") or {}
    out = [{"name": "upper (the container's writes)", "path": data.get("UpperDir", "")}]
    out += [{"name": f"layer {n + 1} from the top", "path": p}
            for n, p in enumerate((data.get("LowerDir") or "").split(":")) if p]
    return out


def mounts(pid: int) -> list[dict]:
    out = []
    for line in (_read(f"/proc/{pid}/mountinfo") or "").splitlines():
        fields = line.split()
        sep = fields.index("-")
        out.append({"target": fields[4], "type": fields[sep + 1], "source": fields[sep + 2],
                    "options": fields[5]})
    return out


def security(pid: int) -> dict:
    from pocketbox.runtime.capabilities import NAMES

    status = dict(line.split(":\t", 1) for line in (_read(f"/proc/{pid}/status") or "").splitlines() if ":\t" in line)

    def names(key: str) -> list[str]:
        mask = int(status.get(key, "0"), 16)
        return [NAMES[n] for n in range(len(NAMES)) if mask & (1 << n)]
    seccomp = {"0": "off", "1": "strict", "2": "filter"}.get(status.get("Seccomp", "0").strip(), "?")
    return {"effective": names("CapEff"), "bounding": names("CapBnd"), "seccomp": seccomp,
            "seccomp_filters": int(status.get("Seccomp_filters", "0").strip() or 0),
            "no_new_privs": status.get("NoNewPrivs", "0").strip() == "1",
            "uid": status.get("Uid", "").split()[:1]}


def processes(pids: list[int]) -> list[dict]:
    """Each process twice: its PID on the host and inside the container's PID namespace."""
    out = []
    for pid in sorted(pids):
        status = dict(line.split(":\t", 1) for line in (_read(f"/proc/{pid}/status") or "").splitlines()
                      if ":\t" in line)
        if not status:
            continue
        nspid = status.get("NSpid", str(pid)).split()
        cmdline = (_read(f"/proc/{pid}/cmdline") or "").replace("\0", " ").strip()
        out.append({"host_pid": pid, "container_pid": int(nspid[-1]), "ppid": int(status.get("PPid", "0")),
                    "name": status.get("Name", "").strip(), "command": cmdline})
    return out


def anatomy(engine, record: dict) -> dict:
    """Everything the anatomy view shows, for one container (running or not)."""
    pid = record["State"].get("Pid") or 0
    running = record["State"]["Status"] in ("running", "paused") and pid > 0
    others = {}
    if running:
        for other in engine.all():
            if other["Id"] != record["Id"] and other["State"]["Status"] in ("running", "paused"):
                others[other["State"]["Pid"]] = other["Name"].lstrip("/")
    cg = engine.cgroup(record["Id"])
    return {
        "id": record["Id"], "name": record["Name"].lstrip("/"), "status": record["State"]["Status"], "pid": pid,
        "image": record["Config"].get("Image"), "command": [record["Path"], *record["Args"]],
        "namespaces": namespaces(pid, others) if running else [],
        "cgroup": cgroup(cg) if running else {"mode": cg.mode, "paths": cg.paths, "files": []},
        "layers": layers(record),
        "mounts": mounts(pid) if running else [],
        "security": security(pid) if running else {},
        "processes": processes(cg.pids()) if running else [],
    }
