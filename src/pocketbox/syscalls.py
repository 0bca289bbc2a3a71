"""Named wrappers for the syscalls Python 3.11 lacks, backed by the cffi module built from csrc/.

Every failure raises OSError with the kernel's errno, so callers handle them like any os.* call."""
import os

from pocketbox._sys import ffi, lib

# unshare(2)/setns(2) flags, from <sched.h>
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# mount(2) flags, from <sys/mount.h>
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_NOATIME = 1024
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_STRICTATIME = 1 << 24
MNT_DETACH = 2

# openat2(2) resolve flags, from <linux/openat2.h>
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def _check(ret: int, *paths) -> int:
    if ret < 0:
        err = ffi.errno
        raise OSError(err, os.strerror(err), *paths[:2])
    return ret


def _c(s: str | bytes | None):
    if s is None:
        return ffi.NULL
    return s if isinstance(s, bytes) else os.fsencode(s)


def unshare(flags: int) -> None:
    """man 2 unshare: move the caller into new namespaces."""
    _check(lib.pb_unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    """man 2 setns: join the namespace that `fd` (an open /proc/PID/ns/* file) refers to."""
    _check(lib.pb_setns(fd, nstype))


def mount(source, target, fstype=None, flags: int = 0, data=None) -> None:
    """man 2 mount."""
    _check(lib.pb_mount(_c(source), _c(target), _c(fstype), flags, _c(data)), target)


def umount2(target, flags: int = 0) -> None:
    """man 2 umount2."""
    _check(lib.pb_umount2(_c(target), flags), target)


def pivot_root(new_root, put_old) -> None:
    """man 2 pivot_root: make new_root the root of this mount namespace."""
    _check(lib.pb_pivot_root(_c(new_root), _c(put_old)), new_root, put_old)


def openat2(dirfd: int, path, flags: int, mode: int = 0, resolve: int = 0) -> int:
    """man 2 openat2: open `path` relative to `dirfd` under the `resolve` rules; returns an fd."""
    return _check(lib.pb_openat2(dirfd, _c(path), flags, mode, resolve), path)


def sethostname(name: str) -> None:
    """man 2 sethostname (in the caller's UTS namespace)."""
    b = name.encode()
    _check(lib.pb_sethostname(b, len(b)))


# prctl(2) options, from <linux/prctl.h>
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """man 2 prctl."""
    return _check(lib.pb_prctl(option, arg2, arg3, arg4, arg5))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """man 2 capset: set the calling thread's capability sets (bit n = capability n)."""
    m = 0xFFFFFFFF
    _check(lib.pb_capset(effective & m, effective >> 32, permitted & m, permitted >> 32,
                         inheritable & m, inheritable >> 32))


def capget() -> tuple[int, int, int]:
    """man 2 capget: (effective, permitted, inheritable) of the calling thread."""
    out = ffi.new("uint32_t[6]")
    _check(lib.pb_capget(out))
    return tuple(out[i] | (out[i + 1] << 32) for i in (0, 2, 4))


# the new mount API (idmapped mounts for user namespaces)
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
AT_FDCWD = -100


def open_tree_clone(path) -> int:
    """man 2 open_tree: a detached copy of the mount tree at `path`, as an fd."""
    return _check(lib.pb_open_tree(AT_FDCWD, _c(path), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC), path)


def mount_setattr_idmap(fd: int, userns_fd: int) -> None:
    """man 2 mount_setattr (MOUNT_ATTR_IDMAP): the detached mount shows file owners through the
    user namespace's uid/gid maps."""
    _check(lib.pb_mount_setattr_idmap(fd, userns_fd))


def move_mount(fd: int, target) -> None:
    """man 2 move_mount: attach the detached mount `fd` at `target`."""
    _check(lib.pb_move_mount(fd, AT_FDCWD, _c(target)), target)


def fork_into_cgroup(cgroup_fd: int) -> int:
    """os.fork(), but the child starts inside the cgroup v2 directory `cgroup_fd` (man 2 clone3,
    CLONE_INTO_CGROUP). Returns the child's pid in the parent and 0 in the child."""
    return _check(lib.pb_fork_into_cgroup(cgroup_fd))
