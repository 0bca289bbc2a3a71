"""User namespaces (`run --userns auto`): the container's root is an unprivileged host user.

    uid_map "0 100000 65536": uid 0 inside is uid 100000 outside, up to 65535 -> 165535

The runtime makes the namespace first, with a short-lived helper process, writes its maps from
outside (only a privileged parent may map other users), and keeps it by an fd. The container's
first process then does every privileged step (mounts, pivot_root, devices) as the host's root,
with the image layers mounted *idmapped* through that namespace (their root-owned files show
as owned by the container's root), and enters the namespace last, just before it becomes the
container's user. Its other namespaces stay owned by the host: inside, root cannot mount,
change the hostname or create device nodes. man 7 user_namespaces, man 2 mount_setattr."""
import os

from pocketbox import syscalls as sc


def map_text(mappings: list[dict]) -> str:
    return "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in mappings)


def create(uid_mappings: list[dict], gid_mappings: list[dict]) -> int:
    """A new user namespace with these maps; returns an fd that keeps it (O_CLOEXEC)."""
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(ready_r)
            os.close(done_w)
            sc.unshare(sc.CLONE_NEWUSER)
            os.write(ready_w, b"u")
            os.read(done_r, 1)  # until the parent has the namespace
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        if os.read(ready_r, 1) != b"u":
            raise OSError("could not create a user namespace")
        for name, mappings in (("uid_map", uid_mappings), ("gid_map", gid_mappings)):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(map_text(mappings))
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.close(done_w)
        os.waitpid(pid, 0)


def idmapped_lowers(overlay_options: str, work_dir: str, userns_fd: int, report) -> str:
    """Replace each lowerdir of an overlay option string by an idmapped copy of its mount, made
    under work_dir (in the caller's mount namespace only)."""
    parts = overlay_options.split(",")
    out = []
    for part in parts:
        if part.startswith("lowerdir="):
            mapped = []
            for i, lower in enumerate(part[len("lowerdir="):].split(":")):
                target = os.path.join(work_dir, str(i))
                os.makedirs(target, 0o700, exist_ok=True)
                fd = sc.open_tree_clone(lower)
                try:
                    sc.mount_setattr_idmap(fd, userns_fd)
                    sc.move_mount(fd, target)
                finally:
                    os.close(fd)
                mapped.append(target)
            report("idmap", count=len(mapped))
            part = "lowerdir=" + ":".join(mapped)
        out.append(part)
    return ",".join(out)


def subordinate_range(user: str = "pocketbox", path: str = "/etc/subuid") -> tuple[int, int]:
    """The host range for `--userns auto`: the `pocketbox` entry of /etc/subuid (as Docker's
    `dockremap`), else 100000:65536."""
    try:
        with open(path) as f:
            for line in f:
                name, _, rest = line.strip().partition(":")
                if name == user:
                    start, _, count = rest.partition(":")
                    return int(start), int(count)
    except (OSError, ValueError):
        pass
    return 100000, 65536
