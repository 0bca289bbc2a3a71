"""Linux capabilities by name, Docker's default set, and applying a set to the process.

Docker keeps 14 capabilities (CapEff 00000000a80425fb) and drops the rest, from the bounding set too;
the inheritable and ambient sets stay empty (CVE-2022-24769)."""
from pocketbox import syscalls

NAMES = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE",
]
NUMBER = {name: i for i, name in enumerate(NAMES)}
PR_CAP_AMBIENT_RAISE = 2

DOCKER_DEFAULT = [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID", "SETFCAP",
    "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
]


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return len(NAMES) - 1


def normalize(name: str) -> str:
    """`net_admin`, `CAP_NET_ADMIN` -> `CAP_NET_ADMIN`; ValueError for unknown names."""
    n = name.strip().upper()
    n = n[4:] if n.startswith("CAP_") else n
    if n != "ALL" and n not in NUMBER:
        raise ValueError(f"unknown capability: {name!r}")
    return "ALL" if n == "ALL" else "CAP_" + n


def resolve(add: list[str], drop: list[str], privileged: bool) -> list[str]:
    """Docker's rules: start from the default set (or all), drop, then add; ALL works on both."""
    everything = ["CAP_" + n for n in NAMES[: last_cap() + 1]]
    if privileged:
        return everything
    add_n = [normalize(c) for c in add]
    drop_n = [normalize(c) for c in drop]
    caps = [] if "ALL" in drop_n else ["CAP_" + n for n in DOCKER_DEFAULT if "CAP_" + n not in drop_n]
    if "ALL" in add_n:
        return [c for c in everything if c not in drop_n]
    for c in add_n:
        if c not in caps:
            caps.append(c)
    return sorted(caps, key=lambda c: NUMBER[c[4:]])


def mask(caps: list[str]) -> int:
    m = 0
    for c in caps:
        m |= 1 << NUMBER[c[4:] if c.startswith("CAP_") else c]
    return m


def drop_bounding(keep: int) -> None:
    """Remove every capability not in `keep` from the bounding set (needs CAP_SETPCAP, so first)."""
    for n in range(last_cap() + 1):
        if not keep & (1 << n):
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, n)


def apply(effective: int, permitted: int, inheritable: int = 0, ambient: int = 0) -> None:
    """Set effective/permitted/inheritable, and the ambient set (Docker: inheritable and ambient
    empty; an OCI bundle may ask for them, runc's default spec does).

    A capability the runtime itself lacks (here: CAP_SYS_RESOURCE on our CI machines) cannot be
    given; it is left out rather than failing every `--privileged` run."""
    own = syscalls.capget()[1]
    syscalls.capset(effective & own, permitted & own, inheritable & own)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL)
    for n in range(last_cap() + 1):  # an ambient capability must be permitted and inheritable too
        if ambient & permitted & inheritable & own & (1 << n):
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, n)
