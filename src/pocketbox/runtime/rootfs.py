"""Build the container's filesystem view inside its new mount namespace, then pivot_root into it.

Order (runc's rootfs_linux.go does the same): make / a slave so nothing propagates to the host;
mount the overlay rootfs; mount /proc, /dev, /sys, ... and the binds below it, each target resolved
inside the rootfs; make the device nodes; pivot_root; detach the old root; mask and read-only
paths; finally a read-only root if asked. All of it vanishes with the namespace."""
import errno
import os
import posixpath
import stat

from pocketbox import syscalls as sc
from pocketbox.filecopy import copy_file_fd

MS_SYNCHRONOUS, MS_MANDLOCK, MS_DIRSYNC, MS_NODIRATIME, MS_SILENT = 16, 64, 128, 2048, 32768
MS_UNBINDABLE, MS_SHARED, MS_RELATIME, MS_LAZYTIME = 1 << 17, 1 << 20, 1 << 21, 1 << 25
MOUNT_FLAGS = {  # the options runc knows that are flags (man 8 mount); anything else is filesystem data
    "ro": (sc.MS_RDONLY, True), "rw": (sc.MS_RDONLY, False),
    "nosuid": (sc.MS_NOSUID, True), "suid": (sc.MS_NOSUID, False),
    "nodev": (sc.MS_NODEV, True), "dev": (sc.MS_NODEV, False),
    "noexec": (sc.MS_NOEXEC, True), "exec": (sc.MS_NOEXEC, False),
    "sync": (MS_SYNCHRONOUS, True), "async": (MS_SYNCHRONOUS, False),
    "dirsync": (MS_DIRSYNC, True), "mand": (MS_MANDLOCK, True), "nomand": (MS_MANDLOCK, False),
    "atime": (sc.MS_NOATIME, False), "noatime": (sc.MS_NOATIME, True),
    "diratime": (MS_NODIRATIME, False), "nodiratime": (MS_NODIRATIME, True),
    "relatime": (MS_RELATIME, True), "norelatime": (MS_RELATIME, False),
    "strictatime": (sc.MS_STRICTATIME, True), "nostrictatime": (sc.MS_STRICTATIME, False),
    "lazytime": (MS_LAZYTIME, True), "nolazytime": (MS_LAZYTIME, False),
    "silent": (MS_SILENT, True), "loud": (MS_SILENT, False), "defaults": (0, True),
    "bind": (sc.MS_BIND, True), "rbind": (sc.MS_BIND | sc.MS_REC, True),
}
PROPAGATION = {"private": sc.MS_PRIVATE, "rprivate": sc.MS_PRIVATE | sc.MS_REC,
               "slave": sc.MS_SLAVE, "rslave": sc.MS_SLAVE | sc.MS_REC,
               "shared": MS_SHARED, "rshared": MS_SHARED | sc.MS_REC,
               "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | sc.MS_REC}
IDMAP_OPTIONS = ("idmap", "ridmap")  # need the user namespace's mappings: only with a user namespace

# name, type, major, minor (all 0666, root-owned): crun's and runc's default set
DEFAULT_DEVICES = [("null", "c", 1, 3), ("zero", "c", 1, 5), ("full", "c", 1, 7), ("random", "c", 1, 8),
                   ("urandom", "c", 1, 9), ("tty", "c", 5, 0)]
DEV_SYMLINKS = [("/proc/self/fd", "fd"), ("/proc/self/fd/0", "stdin"), ("/proc/self/fd/1", "stdout"),
                ("/proc/self/fd/2", "stderr"), ("pts/ptmx", "ptmx")]


def parse_options(options: list[str]) -> tuple[int, int, str]:
    """OCI mount options -> (flags, propagation flags, data string for the filesystem)."""
    flags, prop, data = 0, 0, []
    for o in options:
        if o in MOUNT_FLAGS:
            bit, on = MOUNT_FLAGS[o]
            flags = flags | bit if on else flags & ~bit
        elif o in PROPAGATION:
            prop |= PROPAGATION[o]
        elif o in IDMAP_OPTIONS:
            raise OSError(22, f"mount option {o!r} needs a user namespace and an idmapped-mount capable kernel;"
                              " pocketbox idmaps only the image layers")
        else:
            data.append(o)
    return flags, prop, ",".join(data)


def open_in_root(root_fd: int, path: str, make: str | None = None, _links: int = 0) -> int:
    """An O_PATH fd for `path` inside the rootfs, resolved there (symlinks cannot lead out).

    `make` = "dir" or "file" creates a missing target (and its parents) for a mount point; when
    the path is a dangling symlink (an image's /etc/resolv.conf -> ../run/systemd/...), its
    target's place is made instead, inside the rootfs, as Docker does."""
    rel = path.strip("/") or "."
    try:
        return sc.openat2(root_fd, rel, os.O_PATH | os.O_CLOEXEC, 0, sc.RESOLVE_IN_ROOT)
    except FileNotFoundError:
        if make is None:
            raise
    parent, _, name = rel.rpartition("/")
    pfd = open_dir_creating(root_fd, parent)
    try:
        try:
            link = os.readlink(name, dir_fd=pfd)
        except OSError:
            link = None
        if link is not None:
            if _links >= 8:
                raise OSError(errno.ELOOP, f"too many levels of symbolic links at {path}")
            target = link if link.startswith("/") else posixpath.join("/" + parent, link)
            return open_in_root(root_fd, posixpath.normpath(target), make, _links + 1)
        if make == "dir":
            os.mkdir(name, 0o755, dir_fd=pfd)
        else:
            os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644, dir_fd=pfd))
    except FileExistsError:
        pass
    finally:
        os.close(pfd)
    return sc.openat2(root_fd, rel, os.O_PATH | os.O_CLOEXEC, 0, sc.RESOLVE_IN_ROOT)


def open_dir_creating(root_fd: int, rel: str) -> int:
    fd = os.dup(root_fd)
    done = []
    for comp in [c for c in rel.split("/") if c]:
        done.append(comp)
        try:
            os.mkdir(comp, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        nfd = sc.openat2(root_fd, "/".join(done), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, sc.RESOLVE_IN_ROOT)
        os.close(fd)
        fd = nfd
    return fd


def fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def mount_all(rootfs: str, mounts: list[dict], report, copy_up: set[str] = frozenset(),
              own_cgroups: dict[str, str] | None = None) -> None:
    """Mount each OCI mount entry at its destination inside `rootfs` (before pivot_root).

    A bind whose destination is in `copy_up` and whose source directory is empty is first
    filled with what the image has there (Docker's volume copy-up). `own_cgroups` (hierarchy ->
    the container's directory) is given when the container shares the host's cgroup namespace:
    /sys/fs/cgroup then shows only those directories, bound, as runc does."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for m in mounts:
            flags, prop, data = parse_options(m.get("options", []))
            kind = m.get("type") or ("bind" if flags & sc.MS_BIND else "none")
            source = m.get("source", kind)
            dest = m["destination"]
            if dest.rstrip("/") == "/proc" and kind != "proc":
                raise OSError(1, f"only a proc filesystem may be mounted on /proc, not {kind!r}")
            if kind == "cgroup":
                _mount_cgroupfs(root_fd, dest, report, own_cgroups)
                continue
            is_bind = bool(flags & sc.MS_BIND)
            if is_bind and dest in copy_up:
                _copy_up(root_fd, dest, source, report)
            make = "dir"
            if is_bind and not os.path.isdir(source):
                make = "file"
            target_fd = open_in_root(root_fd, dest, make)
            try:
                if is_bind:
                    sc.mount(source, fd_path(target_fd), None, flags & (sc.MS_BIND | sc.MS_REC))
                else:
                    sc.mount(source, fd_path(target_fd), kind, flags, data or None)
            finally:
                os.close(target_fd)
            if (is_bind and flags & ~(sc.MS_BIND | sc.MS_REC)) or prop:
                mounted_fd = open_in_root(root_fd, dest)  # the new mount, not what was beneath it
                try:
                    if is_bind and flags & ~(sc.MS_BIND | sc.MS_REC):  # ro/nosuid/... on a bind need a remount
                        sc.mount(None, fd_path(mounted_fd), None, flags | sc.MS_REMOUNT | sc.MS_BIND)
                    if prop:
                        sc.mount(None, fd_path(mounted_fd), None, prop)
                finally:
                    os.close(mounted_fd)
            report("mount", source=source, target=dest, fstype=kind, options=",".join(m.get("options", [])))
    finally:
        os.close(root_fd)


def _copy_up(root_fd: int, dest: str, volume_dir: str, report) -> None:
    """Copy the image's tree at `dest` into an empty volume, keeping owners, modes, times, links.

    A volume is shared with other containers, which may plant symlinks in it at any moment: every
    step is relative to directory fds opened with O_NOFOLLOW, files are created with O_EXCL, and
    owners and modes are set on the open fds, so nothing is ever followed out of the volume."""
    try:
        dst_fd = os.open(volume_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if os.listdir(dst_fd):
            return
        try:
            src_fd = sc.openat2(root_fd, dest.strip("/"), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0,
                                sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
        except (FileNotFoundError, NotADirectoryError):
            return
        old_umask = os.umask(0)
        try:
            copy_tree_fd(src_fd, dst_fd)
            _copy_metadata(os.fstat(src_fd), dst_fd)
        finally:
            os.umask(old_umask)
            os.close(src_fd)
    finally:
        os.close(dst_fd)
    report("copy-up", source=dest, target=volume_dir)


def _copy_metadata(st: os.stat_result, fd: int) -> None:
    os.fchown(fd, st.st_uid, st.st_gid)
    os.fchmod(fd, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def copy_tree_fd(src_fd: int, dst_fd: int) -> None:
    """Copy the directory `src_fd` into `dst_fd`, never following a symlink on either side."""
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    for name in os.listdir(src_fd):
        st = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            try:
                os.mkdir(name, 0o700, dir_fd=dst_fd)
            except FileExistsError:
                pass  # a directory made meanwhile is used; anything else fails the open below
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=src_fd)
            try:
                d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=dst_fd)
                try:
                    copy_tree_fd(s, d)
                    _copy_metadata(st, d)
                finally:
                    os.close(d)
            finally:
                os.close(s)
        elif stat.S_ISREG(mode):
            s = os.open(name, os.O_RDONLY | nofollow, dir_fd=src_fd)
            try:
                d = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600, dir_fd=dst_fd)
                try:
                    copy_file_fd(s, d, st.st_size)
                    _copy_metadata(st, d)
                finally:
                    os.close(d)
            finally:
                os.close(s)
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
            os.mknod(name, mode, st.st_rdev, dir_fd=dst_fd)  # (the caller's umask is 0: the mode stands)
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)


def _mount_cgroupfs(root_fd: int, dest: str, report, own_cgroups: dict[str, str] | None = None) -> None:
    """/sys/fs/cgroup, read-only, showing the container's own cgroup namespace.

    cgroup v2: one cgroup2 mount. v1/hybrid: a tmpfs holding one mount per v1 hierarchy the host
    has (as Docker does), plus the hybrid unified tree; then the tmpfs is made read-only.
    Without a cgroup namespace of its own (`own_cgroups`), the container's directories are
    bound instead: a fresh mount would show the host's whole tree (and a fresh cgroup2 mount
    outside a cgroup namespace waits for the kernel, several ms)."""
    flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    host = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fields[4].startswith("/sys/fs/cgroup") and fstype in ("cgroup", "cgroup2"):
                host.append((fields[4], fstype, fields[-1]))
    if any(p == "/sys/fs/cgroup" and t == "cgroup2" for p, t, _ in host):
        target_fd = open_in_root(root_fd, dest, "dir")
        try:
            if own_cgroups:
                _bind_readonly(own_cgroups["unified"], fd_path(target_fd), flags)
            else:
                sc.mount("cgroup", fd_path(target_fd), "cgroup2", flags | sc.MS_RDONLY)
        finally:
            os.close(target_fd)
        report("mount", source="cgroup", target=dest, fstype="cgroup2", options="ro,nosuid,nodev,noexec")
        return
    target_fd = open_in_root(root_fd, dest, "dir")
    try:
        sc.mount("tmpfs", fd_path(target_fd), "tmpfs", flags, "mode=755")
    finally:
        os.close(target_fd)
    report("mount", source="tmpfs", target=dest, fstype="tmpfs", options="mode=755")
    target_fd = open_in_root(root_fd, dest)  # reopened: the fd from before the mount shows what is beneath it
    try:
        base = fd_path(target_fd)
        for path, fstype, options in host:
            name = path[len("/sys/fs/cgroup/"):]
            if not name or "/" in name:
                continue
            sub = os.path.join(base, name)
            os.mkdir(sub, 0o755)
            if own_cgroups and name in own_cgroups:
                _bind_readonly(own_cgroups[name], sub, flags)
                report("mount", source=own_cgroups[name], target=f"{dest}/{name}", fstype="bind", options="ro")
                continue
            data = ",".join(o for o in options.split(",") if o not in ("rw", "ro")) if fstype == "cgroup" else None
            sc.mount("cgroup", sub, fstype, flags | sc.MS_RDONLY, data or None)
            report("mount", source="cgroup", target=f"{dest}/{name}", fstype=fstype, options=f"ro,{data or ''}")
        sc.mount(None, base, None, sc.MS_REMOUNT | sc.MS_RDONLY | flags)
    finally:
        os.close(target_fd)


def _bind_readonly(source: str, target: str, flags: int) -> None:
    sc.mount(source, target, None, sc.MS_BIND)
    sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY | flags)


def make_devices(rootfs: str, report, extra: list[dict] = ()) -> None:
    """Device nodes and symlinks of /dev (a fresh tmpfs), as runc/crun make them, and the
    config's linux.devices (`--device`), which the engine keeps under /dev. Everything is made
    relative to the /dev mount resolved inside the rootfs (an image's /dev symlink stays inside)."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev = sc.openat2(root_fd, "dev", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0,
                         sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
    finally:
        os.close(root_fd)
    old = os.umask(0)
    try:
        for name, kind, major, minor in DEFAULT_DEVICES:
            os.mknod(name, stat.S_IFCHR | 0o666, os.makedev(major, minor), dir_fd=dev)
            report("mknod", path=f"/dev/{name}", device=f"{kind} {major}:{minor}")
        _device_nodes(dev, extra, report)
        for target, name in DEV_SYMLINKS:
            os.symlink(target, name, dir_fd=dev)
    finally:
        os.umask(old)
        os.close(dev)


def _device_nodes(dev: int, devices, report) -> None:
    """linux.devices below the /dev directory fd `dev` (parents made inside it), with owners."""
    for d in devices:
        name = os.path.normpath(d["path"]).removeprefix("/dev/")
        if name.startswith("..") or d["path"] == "/dev" or name.startswith("/"):
            raise OSError(22, f"device path {d['path']!r} is not under /dev")
        parent, _, base = name.rpartition("/")
        pfd = open_dir_creating(dev, parent) if parent else os.dup(dev)
        try:
            kind = stat.S_IFBLK if d["type"] == "b" else stat.S_IFIFO if d["type"] == "p" else stat.S_IFCHR
            try:
                os.unlink(base, dir_fd=pfd)  # (a node the rootfs has is replaced, as runc does)
            except FileNotFoundError:
                pass
            os.mknod(base, kind | (d.get("fileMode") or 0o666), os.makedev(d.get("major", 0), d.get("minor", 0)),
                     dir_fd=pfd)
            os.chown(base, d.get("uid", 0), d.get("gid", 0), dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(pfd)
        report("mknod", path=d["path"], device=f"{d['type']} {d.get('major', 0)}:{d.get('minor', 0)}")


def add_devices(rootfs: str, report, devices: list[dict]) -> None:
    """linux.devices when /dev is the rootfs's own directory (no tmpfs there): made in it,
    resolved inside the rootfs."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        dev = open_dir_creating(root_fd, "dev")
    finally:
        os.close(root_fd)
    old = os.umask(0)
    try:
        _device_nodes(dev, devices, report)
    finally:
        os.umask(old)
        os.close(dev)


def set_propagation(rootfs: str, mode: str, report) -> None:
    """linux.rootfsPropagation: the propagation of the container's root mount (before pivot_root)."""
    if mode not in PROPAGATION:
        raise OSError(22, f"invalid rootfsPropagation {mode!r}")
    sc.mount(None, rootfs, None, PROPAGATION[mode])
    report("mount", target=rootfs, propagation=mode)


def pivot(rootfs: str, report) -> None:
    """pivot_root(".", "."): the rootfs becomes /, the old root is stacked on it and then detached."""
    old_root = os.open("/", os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    new_root = os.open(rootfs, os.O_DIRECTORY | os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fchdir(new_root)
        sc.pivot_root(".", ".")
        report("pivot_root", new_root=rootfs)
        os.fchdir(old_root)
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
        os.chdir("/")
        report("umount", target="old root", flags="MNT_DETACH")
    finally:
        os.close(old_root)
        os.close(new_root)


def move_root(rootfs: str, report) -> None:
    """runc --no-pivot: mount the rootfs over / and chroot into it (for a rootfs pivot_root
    refuses, such as ramfs); weaker than pivot_root, as the old root stays beneath."""
    os.chdir(rootfs)
    sc.mount(rootfs, "/", None, sc.MS_MOVE)
    os.chroot(".")
    os.chdir("/")
    report("chroot", new_root=rootfs, how="mount(MS_MOVE) onto /, chroot(.)")


def mask_paths(masked: list[str], readonly: list[str], report) -> None:
    """Docker's maskedPaths (a file gets /dev/null, a directory an empty read-only tmpfs) and readonlyPaths."""
    for p in masked:
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", p, "tmpfs", sc.MS_RDONLY, "size=0k")
        else:
            sc.mount("/dev/null", p, None, sc.MS_BIND)
        report("mask", path=p)
    for p in readonly:
        if not os.path.exists(p):
            continue
        sc.mount(p, p, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, p, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | sc.MS_REC)
        report("readonly", path=p)


def readonly_root(report) -> None:
    sc.mount(None, "/", None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)
    report("remount", target="/", flags="ro")
