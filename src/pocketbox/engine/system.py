"""The engine's view of itself and of the machine: `info`, `version`, `system df`, `system prune`.

Every value is read from the kernel or the state root at the moment it is asked for."""
import os
import platform

from pocketbox import __version__
from pocketbox.engine.containers import Containers
from pocketbox.engine.volumes import Volumes
from pocketbox.state import disk_usage as tree_size

OCI_VERSION = "1.0.2"


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _mount_of(path: str) -> tuple[str, str]:
    """(mount point, fstype) of the filesystem holding `path`: the longest mountinfo prefix."""
    path = os.path.realpath(path)
    best = ("/", "")
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            mnt, fstype = fields[4], fields[fields.index("-") + 1]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best[0]):
                best = (mnt, fstype)
    return best


def cgroup_controllers(mode: str) -> list[str]:
    """Controllers pocketbox can use for limits on this host."""
    if mode == "v2":
        return _read("/sys/fs/cgroup/cgroup.subtree_control").split() or _read("/sys/fs/cgroup/cgroup.controllers").split()
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup":
                found += [o for o in fields[-1].split(",") if o not in ("rw", "ro") and not o.startswith("name=")]
    return sorted(set(found))


def info(engine: Containers | None = None) -> dict:
    from pocketbox.runtime.cgroups import detect

    engine = engine or Containers()
    containers = engine.all()
    counts = {s: sum(1 for c in containers if c["State"]["Status"] == s) for s in ("running", "paused", "exited")}
    from pocketbox.engine.images import list_images

    images = {r["Id"] for r in list_images(engine.store)}
    root = str(engine.store.root)
    mode = detect()
    controllers = cgroup_controllers(mode)
    filesystems = _read("/proc/filesystems")
    os_release = dict(line.split("=", 1) for line in _read("/etc/os-release").splitlines() if "=" in line)
    meminfo = dict(line.split(":", 1) for line in _read("/proc/meminfo").splitlines() if ":" in line)
    warnings = []
    if "overlay" not in filesystems:
        warnings.append("WARNING: the kernel has no overlay filesystem: containers cannot start (modprobe overlay)")
    if _read("/proc/sys/net/ipv4/ip_forward", "0") != "1":
        warnings.append("WARNING: IPv4 forwarding is disabled (pocketbox turns it on when a container joins a "
                        "bridge network, as Docker does)")
    for c in ("memory", "pids", "cpu"):
        if c not in controllers:
            warnings.append(f"WARNING: the {c} cgroup controller is not available: --{'memory' if c == 'memory' else c} "
                            "limits cannot be enforced")
    if mode != "v2":
        warnings.append(f"WARNING: cgroup {mode} host: pocketbox supports it, but cgroup v2 is what most hosts use now")
    userns = _read("/proc/sys/user/max_user_namespaces", "0")
    backing = _mount_of(root)[1] if os.path.exists(root) else _mount_of(os.path.dirname(root))[1]
    return {
        "Containers": len(containers), "ContainersRunning": counts["running"], "ContainersPaused": counts["paused"],
        "ContainersStopped": counts["exited"] + sum(1 for c in containers if c["State"]["Status"] == "created"),
        "Images": len(images), "Volumes": len(Volumes(engine.store.root).all()),
        "Driver": "overlay", "DriverStatus": [["Backing Filesystem", backing]],
        "DockerRootDir": root, "PocketboxRootDir": root,
        "CgroupVersion": "2" if mode == "v2" else "1", "CgroupMode": mode, "CgroupDriver": "cgroupfs",
        "CgroupControllers": controllers,
        "KernelVersion": platform.release(), "OperatingSystem": os_release.get("PRETTY_NAME", "").strip('"'),
        "OSType": "linux", "Architecture": platform.machine(), "NCPU": os.cpu_count(),
        "MemTotal": int(meminfo.get("MemTotal", "0 kB").split()[0]) * 1024,
        "SecurityOptions": [
            "name=seccomp,profile=default (Docker's; --security-opt seccomp=unconfined|PROFILE.json)",
            "name=no-new-privileges (per container: --security-opt no-new-privileges)",
            f"name=userns ({'per container: --userns auto' if userns not in ('', '0') else 'unavailable on this kernel'})",
            "name=cgroupns (every container has its own cgroup namespace)",
            "name=capabilities,docker-default (14 capabilities)",
        ],
        "IPv4Forwarding": _read("/proc/sys/net/ipv4/ip_forward", "0") == "1",
        "ServerVersion": __version__, "Name": platform.node(), "Warnings": warnings,
    }


def version() -> dict:
    import sys

    return {
        "Client": {"Version": __version__, "Python": platform.python_version(), "Executable": sys.executable,
                   "Os": "linux", "Arch": platform.machine()},
        "Runtime": {"Name": "pocketbox runtime", "Version": __version__, "OCIRuntimeSpec": OCI_VERSION,
                    "Syscalls": "cffi module pocketbox._sys (csrc/pocketbox_sys.c)",
                    "KernelVersion": platform.release()},
    }


def disk_usage(engine: Containers | None = None) -> list[dict]:
    """`system df`: images, containers and volumes: count, in use, size, reclaimable."""
    engine = engine or Containers()
    store = engine.store
    containers = engine.all()
    images = store.all_images()
    used_images = {c["Image"] for c in containers}
    layer_size: dict[str, int] = {}
    for img in images:
        for layer in img.get("Layers", []):
            layer_size[layer["ChainID"]] = int(layer.get("Size", 0))
    needed = {layer["ChainID"] for img in images if img["Id"] in used_images for layer in img.get("Layers", [])}
    images_size = sum(layer_size.values())
    images_reclaim = sum(size for chain, size in layer_size.items() if chain not in needed)
    sizes = {c["Id"]: tree_size(engine.dir(c["Id"]) / "upper") for c in containers}
    running = [c for c in containers if c["State"]["Status"] in ("running", "paused", "restarting")]
    volumes = Volumes(store.root)
    vols = volumes.all()
    vol_sizes = {v["Name"]: volumes.size(v["Name"]) for v in vols}
    vol_used = {v["Name"] for v in vols if volumes.users(v["Name"], engine)}
    return [
        {"Type": "Images", "Total": len(images), "Active": sum(1 for i in images if i["Id"] in used_images),
         "Size": images_size, "Reclaimable": images_reclaim},
        {"Type": "Containers", "Total": len(containers), "Active": len(running), "Size": sum(sizes.values()),
         "Reclaimable": sum(s for cid, s in sizes.items() if cid not in {c["Id"] for c in running})},
        {"Type": "Local Volumes", "Total": len(vols), "Active": len(vol_used), "Size": sum(vol_sizes.values()),
         "Reclaimable": sum(s for n, s in vol_sizes.items() if n not in vol_used)},
    ]


def prune(all_images: bool, volumes: bool, engine: Containers | None = None) -> dict:
    """`system prune`: stopped containers, then unused images (dangling, or all with -a), then
    anonymous unused volumes with --volumes. Returns what went and the bytes freed."""
    from pocketbox.engine.images import prune_images

    engine = engine or Containers()
    before = {c["Id"]: tree_size(engine.dir(c["Id"])) for c in engine.all()
              if c["State"]["Status"] in ("exited", "created", "dead")}
    removed_containers = engine.prune()
    engine.store.clean_stale_tmp()  # what killed commands (commit, export, pull) left
    freed = sum(before.get(c, 0) for c in removed_containers)
    image_actions, image_freed = prune_images(engine.store, all_images)
    freed += image_freed
    removed_volumes: list[str] = []
    if volumes:
        removed_volumes, vol_freed = Volumes(engine.store.root).prune(engine)
        freed += vol_freed
    return {"Containers": removed_containers, "Images": image_actions, "Volumes": removed_volumes, "Freed": freed}
