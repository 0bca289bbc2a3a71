"""cgroups for one container, on cgroup v2 (unified) hosts and on v1/hybrid hosts.

Every directory pocketbox makes is below a `pocketbox` directory of its own; nothing else is
touched. The flags map to files like this (and `--explain` will show each write):

    flag            cgroup v2                     cgroup v1
    --memory        memory.max                    memory/memory.limit_in_bytes
    --memory-swap   memory.swap.max (swap - mem)  memory/memory.memsw.limit_in_bytes
    --cpus          cpu.max "quota period"        cpu/cpu.cfs_quota_us + cpu.cfs_period_us
    --cpu-shares    cpu.weight (1024 -> 100)      cpu/cpu.shares
    --pids-limit    pids.max                      pids/pids.max
    (devices)       eBPF program (devices_bpf.py) devices/devices.deny + devices.allow (+ eBPF on hybrid)
    kill all        cgroup.kill                   cgroup.kill of the hybrid unified tree, else SIGKILL each pid
"""
import errno
import os
import _signal as signal  # the C module: signal.py builds enums, and importing enum delays start-up
import time

CGROUP_ROOT = "/sys/fs/cgroup"
PARENT = "pocketbox"
PERIOD = 100000

# Docker's default device rules (c = char, b = block; m = mknod allowed for all, rw for these nodes)
DEFAULT_DEVICE_RULES = [
    "c *:* m", "b *:* m",
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",  # null zero full random urandom
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",            # tty console ptmx pts/*
    "c 10:200 rwm",                                                   # net/tun
]


def _fstype(path: str) -> str | None:
    """The filesystem type mounted at `path`, from /proc/self/mountinfo (cheaper than ctypes statfs)."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == path:
                return fields[fields.index("-") + 1]
    return None


def v1_hierarchies() -> list[str]:
    """The v1 hierarchies mounted under /sys/fs/cgroup, by directory name ("memory", "cpu,cpuacct",
    "systemd" for name=systemd, ...)."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mountpoint = fields[4]
            if fields[fields.index("-") + 1] == "cgroup" and os.path.dirname(mountpoint) == CGROUP_ROOT:
                out.append(os.path.basename(mountpoint))
    return out


def detect() -> str:
    """'v2' (unified), 'hybrid' (v1 controllers + a cgroup2 tree at unified/), or 'v1'."""
    if _fstype(CGROUP_ROOT) == "cgroup2":
        return "v2"
    if _fstype(f"{CGROUP_ROOT}/unified") == "cgroup2":
        return "hybrid"
    return "v1"


class Limits:
    """What the runtime-spec's linux.resources asks of the cgroup (None: the kernel's default)."""

    def __init__(self, memory: int | None = None, memory_swap: int | None = None, cpu_quota: int | None = None,
                 cpu_period: int | None = None, cpu_shares: int | None = None, pids_limit: int | None = None,
                 devices: list[str] | None = None, cpuset_cpus: str | None = None, cpuset_mems: str | None = None,
                 memory_reservation: int | None = None, oom_kill_disable: bool = False):
        self.blkio_weight: int | None = None  # 10..1000
        self.blkio_throttle: list[tuple[str, str, int]] = []  # ("read_bps", "8:0", rate), write_bps, *_iops
        self.hugepages: list[tuple[str, int]] = []  # ("2MB", bytes)
        self.swappiness: int | None = None
        self.unified: dict[str, str] = {}  # cgroup v2 file -> value, written as given
        self.memory = memory                # bytes
        self.memory_swap = memory_swap      # bytes of memory + swap; -1 = unlimited
        self.memory_reservation = memory_reservation  # the soft limit: reclaimed down to it under pressure
        self.oom_kill_disable = oom_kill_disable      # (v1 only: v2 has no such switch)
        self.cpu_quota = cpu_quota          # microseconds of CPU time per period
        self.cpu_period = cpu_period
        self.cpu_shares = cpu_shares
        self.cpuset_cpus = cpuset_cpus      # "0-1", "0,2"
        self.cpuset_mems = cpuset_mems
        self.pids_limit = pids_limit
        self.devices = list(DEFAULT_DEVICE_RULES) if devices is None else devices


class CgroupPathError(ValueError):
    """A linux.cgroupsPath this runtime cannot use."""


def spec_path(cgroups_path: str | None, container_id: str) -> str:
    """The OCI bundle's linux.cgroupsPath as a path below each hierarchy's root.

    Absolute paths are taken as they are; a relative one is below the caller's own cgroup (runc's
    rule); none at all means /pocketbox/<id>, pocketbox's own subtree. The systemd form
    "slice:prefix:name" needs a systemd cgroup driver, which pocketbox does not have."""
    if not cgroups_path:
        return f"/{PARENT}/{container_id}"
    if ":" in cgroups_path:
        raise CgroupPathError(f"cgroupsPath {cgroups_path!r} is in the systemd form (slice:prefix:name); "
                              "pocketbox manages cgroups itself (cgroupfs): give a path instead")
    parts = [p for p in cgroups_path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise CgroupPathError(f"cgroupsPath {cgroups_path!r} must not contain '..'")
    if cgroups_path.startswith("/"):
        return "/" + "/".join(parts)
    return os.path.join(_own_cgroup(), *parts)


def _own_cgroup() -> str:
    """The caller's cgroup: the cgroup2 line of /proc/self/cgroup, else the first v1 one."""
    lines = _lines("/proc/self/cgroup")
    for line in lines:
        if line.startswith("0::"):
            return line[3:] or "/"
    return lines[0].split(":", 2)[2] if lines else "/"


class ContainerCgroup:
    """The cgroup(s) of one container; `paths` are what `inspect` shows. `path` is the same
    directory below every hierarchy (spec_path()); by default /pocketbox/<id>."""

    def __init__(self, container_id: str, on_write=None, path: str | None = None):
        self.id = container_id
        self.mode = detect()
        self.on_write = on_write
        self.born_in_unified = False
        rel = (path or f"/{PARENT}/{container_id}").rstrip("/")
        self.own_parent = rel == f"/{PARENT}/{container_id}"  # the shared parent goes with its last child
        if self.mode == "v2":
            self.paths = {"unified": f"{CGROUP_ROOT}{rel}"}
        else:
            # In every v1 hierarchy, as Docker does: a hierarchy the container is not placed in
            # would be mountable from inside (with CAP_SYS_ADMIN) at its root, release_agent and all.
            self.paths = {h: f"{CGROUP_ROOT}/{h}{rel}" for h in v1_hierarchies()}
            if self.mode == "hybrid":
                self.paths["unified"] = f"{CGROUP_ROOT}/unified{rel}"

    def dir_of(self, controller: str) -> str | None:
        """The container's directory in the hierarchy that has `controller` (v1)."""
        for name, d in self.paths.items():
            if controller in name.split(","):
                return d
        return None

    # --- writing ------------------------------------------------------------------------------
    def _write(self, path: str, value: str) -> None:
        with open(path, "w") as f:
            f.write(value)
        if self.on_write:
            self.on_write(path, value)

    def create(self, limits: Limits) -> None:
        """Make the directories and write the limits; undone by destroy() on any failure."""
        for attempt in range(5):
            try:
                if self.mode == "v2":
                    self._create_v2(limits)
                else:
                    self._create_v1(limits)
                if "unified" in self.paths:  # v2 has no devices controller: an eBPF program (hybrid: both)
                    self._device_filter(self.paths["unified"], limits.devices)
                return
            except OSError as e:  # another container's destroy() removed the shared parent: again
                # (ENOENT: it was gone before we looked; ENODEV: it went while we wrote to it)
                if e.errno not in (errno.ENOENT, errno.ENODEV):
                    self.destroy()
                    raise
                parent_gone = e.errno == errno.ENODEV or \
                    any(not os.path.isdir(os.path.dirname(d)) for d in self.paths.values())
                self.destroy()
                if attempt == 4 or not parent_gone:  # a missing limit file is no race: say so at once
                    raise
            except BaseException:
                self.destroy()
                raise

    @staticmethod
    def _device_filter(cgroup_dir: str, rules: list[str]) -> None:
        from pocketbox import explain
        from pocketbox.runtime import devices_bpf

        devices_bpf.attach(cgroup_dir, rules)
        explain.emit("bpf", f"allow only {len(rules)} device rules (null, zero, tty, ...) to the container's "
                     "processes: an eBPF program on its cgroup v2 directory",
                     f"bpf(BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE); bpf(BPF_PROG_ATTACH, {cgroup_dir})",
                     "man 2 bpf")

    def _create_v2(self, limits: Limits) -> None:
        parent = os.path.dirname(self.paths["unified"])
        os.makedirs(parent, exist_ok=True)
        with open(f"{CGROUP_ROOT}/cgroup.subtree_control") as f:
            root_enabled = set(f.read().split())
        optional = (("cpuset",) if limits.cpuset_cpus or limits.cpuset_mems else ()) + \
            (("io",) if limits.blkio_weight or limits.blkio_throttle else ()) + (("hugetlb",) if limits.hugepages else ())
        wanted = [c for c in ("cpu", "memory", "pids") + optional if c in root_enabled]
        below_root = parent[len(CGROUP_ROOT):].strip("/").split("/")
        for depth in range(1, len(below_root) + 1 if below_root != [""] else 0):  # each level hands them down
            level = os.path.join(CGROUP_ROOT, *below_root[:depth])
            with open(f"{level}/cgroup.subtree_control") as f:
                enabled = set(f.read().split())
            if set(wanted) - enabled:
                self._write(f"{level}/cgroup.subtree_control", " ".join("+" + c for c in wanted))
        os.mkdir(self.paths["unified"])
        self._apply_v2(limits)

    def _apply_v2(self, limits: Limits) -> None:
        d = self.paths["unified"]
        if limits.memory is not None:
            self._write(f"{d}/memory.max", str(limits.memory))
            if os.path.exists(f"{d}/memory.swap.max"):
                swap = limits.memory_swap
                if swap is None:
                    swap_max = str(limits.memory)          # Docker: memory-swap defaults to 2x memory
                elif swap == -1:
                    swap_max = "max"
                else:
                    swap_max = str(max(swap - limits.memory, 0))
                self._write(f"{d}/memory.swap.max", swap_max)
        if limits.memory_reservation:
            self._write(f"{d}/memory.low", str(limits.memory_reservation))
        if limits.cpu_quota or limits.cpu_period:
            quota = str(limits.cpu_quota) if limits.cpu_quota and limits.cpu_quota > 0 else "max"
            self._write(f"{d}/cpu.max", f"{quota} {limits.cpu_period or PERIOD}")
        if limits.cpu_shares is not None:
            self._write(f"{d}/cpu.weight", str(shares_to_weight(limits.cpu_shares)))
        for name in ("cpus", "mems"):
            if getattr(limits, f"cpuset_{name}"):
                self._write(f"{d}/cpuset.{name}", getattr(limits, f"cpuset_{name}"))
        if limits.pids_limit is not None:
            self._write(f"{d}/pids.max", "max" if limits.pids_limit <= 0 else str(limits.pids_limit))
        if limits.blkio_weight:  # runc's map of blkio.weight (10..1000) onto io.weight (1..10000)
            self._write(f"{d}/io.weight", f"default {1 + (limits.blkio_weight - 10) * 9999 // 990}")
        for kind, device, rate in limits.blkio_throttle:
            key = {"read_bps": "rbps", "write_bps": "wbps", "read_iops": "riops", "write_iops": "wiops"}[kind]
            self._write(f"{d}/io.max", f"{device} {key}={rate}")
        for size, limit in limits.hugepages:
            self._write(f"{d}/hugetlb.{size}.max", str(limit))
        for name, value in limits.unified.items():
            if "/" in name or name.startswith(".") or not name:
                raise OSError(22, f"invalid cgroup file name in linux.resources.unified: {name!r}")
            self._write(f"{d}/{name}", value)

    def _create_v1(self, limits: Limits) -> None:
        for name, d in self.paths.items():
            parent = os.path.dirname(d)
            os.makedirs(parent, exist_ok=True)
            if "cpuset" in name.split(","):
                hierarchy = f"{CGROUP_ROOT}/{name}"
                levels = parent[len(hierarchy):].strip("/").split("/")
                for depth in range(1, len(levels) + 1 if levels != [""] else 0):  # top down: each copies its parent
                    _inherit_cpuset(os.path.join(hierarchy, *levels[:depth]))
            os.mkdir(d)
        self._apply_v1(limits)

    def _apply_v1(self, limits: Limits, devices: bool = True) -> None:
        mem = self.dir_of("memory")
        if mem and limits.memory is not None:
            writes = [(f"{mem}/memory.limit_in_bytes", str(limits.memory))]
            if os.path.exists(f"{mem}/memory.memsw.limit_in_bytes"):
                swap = limits.memory_swap
                total = 2 * limits.memory if swap is None else (-1 if swap == -1 else swap)
                writes.append((f"{mem}/memory.memsw.limit_in_bytes", str(total)))
            try:
                for path, value in writes:
                    self._write(path, value)
            except OSError:  # memory <= memory+swap at every moment: raising both, the sum goes first
                for path, value in reversed(writes):
                    self._write(path, value)
        if mem and limits.memory_reservation:
            self._write(f"{mem}/memory.soft_limit_in_bytes", str(limits.memory_reservation))
        if mem and limits.oom_kill_disable:
            self._write(f"{mem}/memory.oom_control", "1")
        cpu = self.dir_of("cpu")
        if cpu and limits.cpu_period:
            self._write(f"{cpu}/cpu.cfs_period_us", str(limits.cpu_period))
        if cpu and limits.cpu_quota:
            self._write(f"{cpu}/cpu.cfs_quota_us", str(limits.cpu_quota))
        cpuset = self.dir_of("cpuset")
        for name in ("cpus", "mems"):
            if cpuset and getattr(limits, f"cpuset_{name}"):
                self._write(f"{cpuset}/cpuset.{name}", getattr(limits, f"cpuset_{name}"))
        if cpu and limits.cpu_shares is not None:
            self._write(f"{cpu}/cpu.shares", str(limits.cpu_shares))
        pids = self.dir_of("pids")
        if pids and limits.pids_limit is not None:
            self._write(f"{pids}/pids.max", "max" if limits.pids_limit <= 0 else str(limits.pids_limit))
        blkio = self.dir_of("blkio")
        if limits.blkio_weight:
            weight = next((f for f in ("blkio.weight", "blkio.bfq.weight") if blkio and os.path.exists(f"{blkio}/{f}")),
                          None)
            if weight is None:
                raise OSError(95, "blkio weight: this host's block I/O scheduler has no blkio.weight")
            self._write(f"{blkio}/{weight}", str(limits.blkio_weight))
        for kind, device, rate in limits.blkio_throttle:
            if not blkio:
                raise OSError(95, "blkio throttling: this host has no blkio hierarchy")
            self._write(f"{blkio}/blkio.throttle.{kind}_device", f"{device} {rate}")
        for size, limit in limits.hugepages:
            hugetlb = self.dir_of("hugetlb")
            if not hugetlb:
                raise OSError(95, "hugepage limits: this host has no hugetlb hierarchy")
            self._write(f"{hugetlb}/hugetlb.{size}.limit_in_bytes", str(limit))
        if mem and limits.swappiness is not None:
            self._write(f"{mem}/memory.swappiness", str(limits.swappiness))
        if limits.unified:
            raise OSError(95, "linux.resources.unified needs a cgroup v2 host (this one is " + self.mode + ")")
        dev = self.dir_of("devices") if devices else None
        if dev:
            self._write(f"{dev}/devices.deny", "a")
            for rule in limits.devices:
                self._write(f"{dev}/devices.allow", rule)

    def update(self, limits: Limits) -> None:
        """`update`: write the limits that are set (not None) to a live container's cgroup. The
        device rules stay as they are."""
        self._apply_v2(limits) if self.mode == "v2" else self._apply_v1(limits, devices=False)

    def usage(self) -> dict:
        """What `stats` reads, in the units the kernel gives: cpu_ns, memory, memory_limit (None:
        unlimited), memory_stat (memory.stat), pids, pids_limit, io_read, io_write (bytes)."""
        out = {"cpu_ns": 0, "memory": 0, "memory_limit": None, "memory_stat": {}, "pids": 0, "pids_limit": None,
               "io_read": 0, "io_write": 0}
        if self.mode == "v2":
            d = self.paths["unified"]
            cpu = _keyed(f"{d}/cpu.stat")
            out["cpu_ns"] = cpu.get("usage_usec", 0) * 1000
            out["memory"] = _number(f"{d}/memory.current") or 0
            out["memory_limit"] = _number(f"{d}/memory.max")
            out["memory_stat"] = _keyed(f"{d}/memory.stat")
            out["pids"] = _number(f"{d}/pids.current") or len(self.pids())
            out["pids_limit"] = _number(f"{d}/pids.max")
            for line in _lines(f"{d}/io.stat"):
                fields = dict(f.split("=", 1) for f in line.split()[1:] if "=" in f)
                out["io_read"] += int(fields.get("rbytes", 0))
                out["io_write"] += int(fields.get("wbytes", 0))
            return out
        cpuacct, mem, pids, blkio = (self.dir_of(c) for c in ("cpuacct", "memory", "pids", "blkio"))
        out["cpu_ns"] = _number(f"{cpuacct}/cpuacct.usage") or 0 if cpuacct else 0
        if mem:
            out["memory"] = _number(f"{mem}/memory.usage_in_bytes") or 0
            limit = _number(f"{mem}/memory.limit_in_bytes")
            out["memory_limit"] = limit if limit is not None and limit < 1 << 62 else None
            out["memory_stat"] = _keyed(f"{mem}/memory.stat")
        out["pids"] = (_number(f"{pids}/pids.current") if pids else None) or len(self.pids())
        out["pids_limit"] = _number(f"{pids}/pids.max") if pids else None
        for line in _lines(f"{blkio}/blkio.throttle.io_service_bytes") if blkio else []:
            fields = line.split()
            if len(fields) == 3 and fields[1] in ("Read", "Write"):
                out["io_read" if fields[1] == "Read" else "io_write"] += int(fields[2])
        return out

    def fork(self) -> int:
        """os.fork() for the container's first process; the child calls join() first."""
        pid, self.born_in_unified = fork_into(self.paths)
        return pid

    def join(self, report=None) -> None:
        join(self.paths, self.born_in_unified, report)

    # --- reading ------------------------------------------------------------------------------
    def pids(self) -> list[int]:
        d = self.paths.get("unified") or self.dir_of("pids") or next(iter(self.paths.values()), None)
        try:
            with open(f"{d}/cgroup.procs") as f:
                return [int(x) for x in f.read().split()]
        except (OSError, TypeError):
            return []

    def oom_killed(self) -> bool:
        """Did the kernel's OOM killer kill a process of this container?"""
        if self.mode == "v2":
            path, key = f"{self.paths['unified']}/memory.events", "oom_kill"
        elif self.dir_of("memory"):
            path, key = f"{self.dir_of('memory')}/memory.oom_control", "oom_kill"
        else:
            return False
        try:
            with open(path) as f:
                for line in f:
                    k, _, v = line.partition(" ")
                    if k == key and int(v) > 0:
                        return True
        except OSError:
            pass
        return False

    # --- freezing -----------------------------------------------------------------------------
    def freeze(self) -> None:
        """pause: cgroup.freeze (v2, and the cgroup2 tree of hybrid hosts) or v1 freezer.state."""
        self._set_frozen(True)

    def thaw(self) -> None:
        self._set_frozen(False)

    def _set_frozen(self, frozen: bool) -> None:
        unified = self.paths.get("unified")
        if unified:
            self._write(f"{unified}/cgroup.freeze", "1" if frozen else "0")
            want = f"frozen {1 if frozen else 0}"
            for _ in range(500):  # wait until every task is (un)frozen
                with open(f"{unified}/cgroup.events") as f:
                    if want in f.read().splitlines():
                        return
                time.sleep(0.01)
            raise OSError(f"cgroup {unified} did not reach '{want}'")
        freezer = self.dir_of("freezer")
        if not freezer:
            raise OSError("pause needs cgroup v2, a hybrid host's cgroup2 tree, or the v1 freezer")
        self._write(f"{freezer}/freezer.state", "FROZEN" if frozen else "THAWED")

    # --- ending -------------------------------------------------------------------------------
    def kill_all(self) -> None:
        """SIGKILL every process left in the container's cgroup."""
        unified = self.paths.get("unified")
        if unified and os.path.exists(f"{unified}/cgroup.kill"):
            try:
                self._write(f"{unified}/cgroup.kill", "1")
            except OSError:
                pass
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def destroy(self, timeout: float = 5.0) -> None:
        """Kill what is left, wait until the cgroups are empty, remove the directories."""
        deadline = time.monotonic() + timeout
        if self.pids():
            self.kill_all()
        while self.pids() and time.monotonic() < deadline:
            time.sleep(0.01)
        for d in self.paths.values():
            for _ in range(100):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last task exits
                    time.sleep(0.01)
            if self.own_parent:
                try:  # the shared `pocketbox` parent goes too once no container is left in it
                    os.rmdir(os.path.dirname(d))
                except OSError:
                    pass


def fork_into(paths: dict[str, str]) -> tuple[int, bool]:
    """Fork a child for the cgroups in `paths` (controller -> directory); the child must call
    join(paths, born_in_unified) first thing. Returns (pid or 0 in the child, born_in_unified).

    Why not write the pid to cgroup.procs? That write-locks a global rwsem, which waits for an
    RCU grace period: 7-15 ms per container on our machines, the largest single kernel cost of a
    `run`. Instead the cgroup v2 directory is entered by the fork itself (clone3 with
    CLONE_INTO_CGROUP), and each v1 hierarchy by the child writing "0" (itself) to `tasks`:
    moving only the calling thread needs no lock, and the child has only one thread."""
    unified = paths.get("unified")
    # A raw clone3 skips the C library's own fork handlers (its malloc locks), which matters
    # only if another thread could hold one: with threads, take the slow, safe way.
    # (Moving itself through v1 `tasks` is safe either way: the child has one thread.)
    if unified and len(os.listdir("/proc/self/task")) == 1:
        fd = os.open(unified, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            from pocketbox import syscalls

            return syscalls.fork_into_cgroup(fd), True
        except OSError as e:  # before Linux 5.7: no clone3 / CLONE_INTO_CGROUP
            if e.errno not in (errno.ENOSYS, errno.E2BIG, errno.EINVAL):
                raise
        finally:
            os.close(fd)
    return os.fork(), False  # then the child writes "0" to cgroup.procs (and waits for RCU)


def join(paths: dict[str, str], born_in_unified: bool, report=None) -> None:
    """In the child of fork_into(): enter the hierarchies the fork did not. `report(kind, **fields)`
    is told of each (explain.report)."""
    for controller, d in paths.items():
        if controller == "unified":
            file = f"{d}/cgroup.procs"
            if born_in_unified:
                if report:
                    report("cgroup-join", dir=d, act=f"clone3(CLONE_INTO_CGROUP, {d}) (born in it)")
                continue
        else:
            file = f"{d}/tasks"  # v1: this thread only; no global lock
        with open(file, "w") as f:
            f.write("0")
        if report:
            report("cgroup-join", dir=d, act=f"write({file}, '0')")


def _inherit_cpuset(parent: str) -> None:
    """A new v1 cpuset cgroup has no CPUs or memory nodes (nothing could join it): give pocketbox's
    parent the root's, and have its children copy them (cgroup.clone_children)."""
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(f"{parent}/{name}") as f:
            if f.read().strip():
                continue
        with open(f"{os.path.dirname(parent)}/{name}") as f:
            value = f.read().strip()
        with open(f"{parent}/{name}", "w") as f:
            f.write(value)
    with open(f"{parent}/cgroup.clone_children") as f:
        if f.read().strip() == "1":
            return
    with open(f"{parent}/cgroup.clone_children", "w") as f:
        f.write("1")


def _lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def _keyed(path: str) -> dict[str, int]:
    """A flat-keyed cgroup file (cpu.stat, memory.stat): {key: number}."""
    out = {}
    for line in _lines(path):
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def _number(path: str) -> int | None:
    """A one-number cgroup file; None for "max" or a missing file."""
    lines = _lines(path)
    text = lines[0].strip() if lines else ""
    return int(text) if text.lstrip("-").isdigit() else None


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000), runc's linear map (1024 -> 39)."""
    return 1 + ((shares - 2) * 9999) // 262142
