"""A container's changes, read from its overlay upper directory: `diff`, and the layer tar `commit` makes.

The upper dir holds exactly what the container changed, in overlayfs form; turning it into an
OCI layer is the inverse of image/unpack.py:
    character device 0/0 named X        -> an empty file `.wh.X` (X was deleted)
    xattr trusted.overlay.opaque=y on D  -> D, plus `D/.wh..wh..opq` (D replaced wholesale)
    anything else                        -> itself, with owners, mode, mtime, xattrs, hardlinks
overlayfs's own xattrs (trusted.overlay.*) never go into the tar."""
import os
import stat
import tarfile

from pocketbox.image.unpack import OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX

OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _stat_below(lowers: list[str], rel: str) -> os.stat_result | None:
    """`rel` as the image (the lower layers, top first) has it; None if it has none. Whiteouts
    and opaque dirs hide."""
    parts = rel.split("/")
    for lower in lowers:
        path = os.path.join(lower, rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            # an opaque parent in this layer hides everything below
            if any(is_opaque(os.path.join(lower, *parts[:i])) for i in range(1, len(parts))):
                return None
            continue
        return None if is_whiteout(st) else st
    return None


def _exists_below(lowers: list[str], rel: str) -> bool:
    return _stat_below(lowers, rel) is not None


def _same_dir_below(st: os.stat_result, rel: str, lowers: list[str]) -> bool:
    """A directory overlayfs only copied up (to hold a file the runtime mounts on, say): the image
    has it with the same mode and owners."""
    below = _stat_below(lowers, rel) if lowers else None
    return below is not None and stat.S_ISDIR(below.st_mode) and \
        (below.st_mode, below.st_uid, below.st_gid) == (st.st_mode, st.st_uid, st.st_gid)


# files the runtime bind-mounts over: their empty placeholders in the upper dir are not changes


def _placeholder(path: str, st: os.stat_result, rel: str, mountpoints: set[str], lowers: list[str]) -> bool:
    """An empty file or directory the runtime made only to mount something on (Docker keeps these
    in its init layer, so they are neither in `diff` nor in a commit)."""
    if rel not in mountpoints:
        return False
    empty = (stat.S_ISREG(st.st_mode) and st.st_size == 0) or (stat.S_ISDIR(st.st_mode) and not os.listdir(path))
    return empty and not _exists_below(lowers, rel)


def diff(upper: str, lowers: list[str], mountpoints: set[str] = frozenset()) -> list[tuple[str, str]]:
    """Docker's `diff`: (A|C|D, /path) for each change, parents before children."""
    out = []
    for dirpath, dirnames, filenames in os.walk(upper):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, upper)
        for name in sorted(dirnames + filenames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            st = os.lstat(os.path.join(dirpath, name))
            if _placeholder(os.path.join(dirpath, name), st, rel, mountpoints, lowers):
                continue
            if is_whiteout(st):
                out.append(("D", "/" + rel))
            elif _exists_below(lowers, rel):
                out.append(("C", "/" + rel))
            else:
                out.append(("A", "/" + rel))
    out.sort(key=lambda c: c[1])
    return out


def walk_tree(top: str):
    """(relative path, name, parent dir fd, lstat) for everything below `top`, parents first.

    The tree may belong to a running container that swaps a directory for a symlink at any moment:
    os.fwalk holds each directory open (never following a link into another), and every entry is
    read relative to its parent's fd."""
    for dirpath, dirnames, filenames, dirfd in os.fwalk(top):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, top)
        for name in sorted(dirnames + filenames):
            try:
                st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            yield (name if rel_dir == "." else f"{rel_dir}/{name}"), name, dirfd, st


def tar_entry(tar: tarfile.TarFile, rel: str, name: str, dirfd: int, st: os.stat_result, pax: dict | None = None) -> bool:
    """Add one entry (numeric owners) from its lstat; a file's contents come from an fd opened
    with O_NOFOLLOW and checked to be the same inode. False for what a tar cannot hold (sockets)."""
    ti = tarfile.TarInfo(rel)
    ti.mode, ti.uid, ti.gid, ti.mtime = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime
    ti.pax_headers = pax or {}
    mode = st.st_mode
    if stat.S_ISREG(mode):
        ti.type, ti.size = tarfile.REGTYPE, st.st_size
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
        with os.fdopen(fd, "rb") as f:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise OSError(f"{rel} changed while it was read")
            tar.addfile(ti, f)
        return True
    if stat.S_ISDIR(mode):
        ti.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(mode):
        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(name, dir_fd=dirfd)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        ti.type = tarfile.FIFOTYPE
    else:
        return False
    tar.addfile(ti)
    return True


def _layer_xattrs(path: str, st: os.stat_result) -> dict:
    xattrs = {}
    if is_whiteout(st):
        return xattrs
    try:
        for key in os.listxattr(path, follow_symlinks=False):
            if not key.startswith(OVERLAY_XATTR_PREFIXES):
                value = os.getxattr(path, key, follow_symlinks=False)
                xattrs["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    except OSError:
        pass
    return xattrs


def _dirs_to_write(upper: str, mountpoints: set[str], lowers: list[str]) -> set[str]:
    """The directories of `upper` a layer holds: those with an entry below them, and those that
    are a change themselves (new, opaque, another mode, owner or xattrs than the image's). A
    directory overlayfs only copied up, to hold a placeholder the runtime mounted on, is neither."""
    keep: set[str] = set()
    for rel, name, dirfd, st in walk_tree(upper):
        path = f"/proc/self/fd/{dirfd}/{name}"
        if _placeholder(path, st, rel, mountpoints, lowers):
            continue
        if stat.S_ISDIR(st.st_mode) and not is_opaque(path) and not _layer_xattrs(path, st) \
                and _same_dir_below(st, rel, lowers):
            continue
        parts = rel.split("/")
        keep.update("/".join(parts[:i]) for i in range(1, len(parts) + (1 if stat.S_ISDIR(st.st_mode) else 0)))
    return keep


def write_layer(upper: str, out, mountpoints: set[str] = frozenset(), lowers: list[str] = ()) -> int:
    """Write the OCI layer tar of `upper` to the binary file `out`; returns the entry count."""
    links: dict[tuple[int, int], str] = {}
    count = 0
    dirs = _dirs_to_write(upper, mountpoints, list(lowers))
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, name, dirfd, st in walk_tree(upper):
            path = f"/proc/self/fd/{dirfd}/{name}"  # the entry itself, whatever its parent's path became
            if _placeholder(path, st, rel, mountpoints, list(lowers)):
                continue
            if stat.S_ISDIR(st.st_mode) and rel not in dirs:
                continue
            if is_whiteout(st):
                parent, _, base = rel.rpartition("/")
                ti = tarfile.TarInfo(f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base)
                ti.mtime = int(st.st_mtime)
                tar.addfile(ti)
                count += 1
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in links:  # a second name of the same file: a hardlink entry
                    ti = tarfile.TarInfo(rel)
                    ti.type, ti.linkname, ti.mtime = tarfile.LNKTYPE, links[key], st.st_mtime
                    ti.mode, ti.uid, ti.gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
                    tar.addfile(ti)
                    count += 1
                    continue
                links[key] = rel
            if tar_entry(tar, rel, name, dirfd, st, _layer_xattrs(path, st)):
                count += 1
            if stat.S_ISDIR(st.st_mode) and is_opaque(path):
                marker = tarfile.TarInfo(f"{rel}/{OPAQUE_MARKER}")
                marker.mtime = int(st.st_mtime)
                tar.addfile(marker)
                count += 1
    return count
