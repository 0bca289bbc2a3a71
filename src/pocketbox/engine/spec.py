"""Image config + run flags -> an OCI runtime-spec config.json (the bundle the runtime executes).

This is the seam between the engine and the runtime: everything the runtime needs to know about
a container is in this one JSON document (runtime-spec 1.0), plus one pocketbox annotation that
names the overlay layers (mounted inside the container's own mount namespace)."""
import os

from pocketbox.engine.users import User
from pocketbox.runtime.init import COPYUP_ANNOTATION, INIT_ANNOTATION, OVERLAY_ANNOTATION

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Docker's lists (moby oci/defaults.go)
MASKED_PATHS = ["/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
                "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def command_line(config: dict, command: list[str], entrypoint: str | None) -> list[str]:
    """Docker's rule: Entrypoint + Cmd; a command given to `run` replaces Cmd; --entrypoint
    replaces Entrypoint and clears the image's Cmd."""
    if entrypoint is not None:  # a string (--entrypoint) or a list (the Engine API's Entrypoint)
        ep = list(entrypoint) if isinstance(entrypoint, list) else [entrypoint] if entrypoint else []
        cmd = command
    else:
        ep = config.get("Entrypoint") or []
        cmd = command or (config.get("Cmd") or [])
    return list(ep) + list(cmd)


def environment(image_env: list[str], extra: list[str], hostname: str, home: str, tty: bool) -> list[str]:
    env: dict[str, str] = {}
    for item in [DEFAULT_PATH, f"HOSTNAME={hostname}"] + list(image_env or []) + (["TERM=xterm"] if tty else []) \
            + list(extra):
        k, _, v = item.partition("=")
        env[k] = v
    env.setdefault("HOME", home)
    return [f"{k}={v}" for k, v in env.items()]


def default_mounts(container_dir: str, user_mounts: list[dict], shm_size: int = 64 << 20,
                   ipc: str = "") -> list[dict]:
    """Docker's default mounts, the /etc files, then the user's (-v, --mount, --tmpfs) in order.
    /dev/shm: a tmpfs of --shm-size; the host's with --ipc host; none with --ipc none."""
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    ]
    if ipc == "host":
        mounts.append({"destination": "/dev/shm", "type": "bind", "source": "/dev/shm", "options": ["rbind", "rprivate"]})
    elif ipc != "none":
        mounts.append({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                       "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_size // 1024}k"]})
    for name in ("resolv.conf", "hostname", "hosts"):
        mounts.append({"destination": f"/etc/{name}", "type": "bind", "source": os.path.join(container_dir, name),
                       "options": ["rbind", "rprivate"]})
    # parents before children (Docker's and runc's order): a volume on /etc goes under /etc/hostname
    return sorted(mounts + user_mounts, key=lambda m: m["destination"].rstrip("/").count("/"))


def mount_points(record: dict) -> set[str]:
    """Destinations (relative) of a container's mounts and the /etc files pocketbox binds: what
    `diff` and `commit` leave out when the runtime only made them to mount on."""
    dests = {m["destination"] for m in default_mounts("", [])} | {m["Destination"] for m in record.get("Mounts", [])}
    return {d.strip("/") for d in dests}


def user_mount(kind: str, source: str | None, destination: str, read_only: bool, options: str = "") -> dict:
    """A -v/--mount/--tmpfs request as an OCI mount (volumes are bind mounts of their _data dir)."""
    if kind == "tmpfs":
        opts = ["nosuid", "nodev", "noexec"] + [o for o in options.split(",") if o] + (["ro"] if read_only else [])
        return {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": opts}
    return {"destination": destination, "type": "bind", "source": source,
            "options": ["rbind", "rprivate"] + (["ro"] if read_only else [])}


def build(*, args: list[str], env: list[str], cwd: str, user: User, hostname: str, tty: bool, stdin_open: bool,
          caps: list[str], no_new_privs: bool, read_only: bool, mounts: list[dict], network: str,
          resources: dict, overlay: str, privileged: bool, copy_up: list[str] | None = None,
          netns: str | None = None, seccomp: dict | None = None, shared: dict | None = None,
          rlimits: list | None = None, sysctl: dict | None = None, init: bool = False,
          cgroups_path: str | None = None) -> dict:
    """`netns`: the path of a network namespace the engine prepares (bridge, container:NAME);
    without it the runtime makes a new, empty one (none). `shared`: {"pid"|"ipc"|"uts": "host" (the
    host's: no namespace) or a /proc/PID/ns path (another container's)}."""
    shared = shared or {}
    namespaces = [{"type": t, **({"path": shared[t]} if shared.get(t, "host") != "host" else {})}
                  for t in ("pid", "ipc", "uts", "mount", "cgroup") if shared.get(t) != "host"]
    if network != "host":
        namespaces.append({"type": "network", **({"path": netns} if netns else {})})
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": tty, "stdinOpen": stdin_open,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": args, "env": env, "cwd": cwd,
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []},
            "noNewPrivileges": no_new_privs,
            **({"rlimits": rlimits} if rlimits else {}),
        },
        "root": {"path": "rootfs", "readonly": read_only},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            **({"cgroupsPath": cgroups_path} if cgroups_path else {}),
            "namespaces": namespaces,
            "resources": resources,
            "maskedPaths": [] if privileged else MASKED_PATHS,
            "readonlyPaths": [] if privileged else READONLY_PATHS,
            **({"seccomp": seccomp} if seccomp else {}),
            **({"sysctl": sysctl} if sysctl else {}),
        },
        "annotations": {OVERLAY_ANNOTATION: overlay,
                        **({COPYUP_ANNOTATION: "\n".join(copy_up)} if copy_up else {}),
                        **({INIT_ANNOTATION: "true"} if init else {})},
    }
