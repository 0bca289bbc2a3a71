"""Unpack one layer tar into its own directory, in overlayfs form, without ever writing outside it.

The OCI layer rules (image-spec layer.md) become overlayfs's:
  `.wh.NAME`       -> a character device 0/0 named NAME (overlay's whiteout)
  `.wh..wh..opq`   -> the xattr trusted.overlay.opaque=y on the directory (hide every lower child)
Every path is resolved with openat2(RESOLVE_IN_ROOT) against the layer directory, so `..`,
absolute names and symlinks planted by earlier entries cannot lead out of it. Python's
tarfile is used only to parse; extract()/extractall() are never called (see
shared/research/registry.md for the CVEs behind that rule)."""
import errno
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass

from pocketbox import syscalls
from pocketbox.errors import LayerError
from pocketbox.image.streams import ForwardReader

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
# xattrs a layer must not set: they would steer overlayfs (opaque, redirect, metacopy)
FORBIDDEN_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.")
IGNORED_XATTRS = ("security.selinux", "system.nfs4_acl")
MAX_ENTRIES = 2_000_000

_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_IN_ROOT = syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS


@dataclass
class UnpackResult:
    entries: int = 0
    size: int = 0  # bytes of regular file content and link targets (Docker's layer size)
    whiteouts: int = 0
    opaque_dirs: int = 0


def clean_name(name: str) -> list[str]:
    """Split a tar member name into components inside the layer.

    A leading `/` or `./` is dropped (the entry stays inside the layer, as Docker does);
    `..` is refused outright rather than guessed at."""
    if "\0" in name:
        raise LayerError(f"layer entry {name!r} has a NUL byte in its name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise LayerError(f"layer entry {name!r} climbs out of the layer with '..'")
    return parts


def whiteout_target(basename: str) -> str | None:
    """For `.wh.NAME` return NAME; None when `basename` is not a whiteout (or is the opaque marker)."""
    if basename == OPAQUE_MARKER or not basename.startswith(WHITEOUT_PREFIX):
        return None
    target = basename[len(WHITEOUT_PREFIX):]
    if target in ("", ".", "..") or target.startswith(WHITEOUT_PREFIX):
        raise LayerError(f"layer has an invalid whiteout entry {basename!r}")
    return target


class _LayerWriter:
    """Creates entries below one root directory fd; caches parent directory fds."""

    def __init__(self, root: str):
        self.root = os.open(root, _DIR_FLAGS)
        self.dirs: dict[str, int] = {}
        self.dir_times: list[tuple[str, int]] = []
        self.result = UnpackResult()

    def close(self) -> None:
        self._forget_dirs()
        os.close(self.root)

    def _forget_dirs(self, keep: int | None = None) -> None:
        for key, fd in list(self.dirs.items()):
            if fd != keep:
                os.close(fd)
                del self.dirs[key]

    def _open_in_root(self, rel: str) -> int:
        return syscalls.openat2(self.root, rel or ".", _DIR_FLAGS, 0, _IN_ROOT)

    def parent(self, parts: list[str]) -> int:
        """An O_PATH fd of the directory `parts`, created (0755, root) where missing."""
        key = "/".join(parts)
        fd = self.dirs.get(key)
        if fd is not None:
            return fd
        try:
            fd = self._open_in_root(key)
        except FileNotFoundError:
            fd = self._make_dirs(parts)
        except NotADirectoryError:
            raise LayerError(f"layer entry below {key!r}: {key!r} is not a directory") from None
        self.dirs[key] = fd
        return fd

    def _make_dirs(self, parts: list[str]) -> int:
        fd = os.dup(self.root)
        try:
            for i, comp in enumerate(parts):
                try:
                    os.mkdir(comp, 0o755, dir_fd=fd)
                except FileExistsError:
                    pass
                nfd = self._open_in_root("/".join(parts[: i + 1]))
                os.close(fd)
                fd = nfd
            return fd
        except (NotADirectoryError, FileNotFoundError):
            os.close(fd)
            raise LayerError(
                f"layer entry below {'/'.join(parts)!r}: a parent is not a directory "
                "(or is a symlink that leads nowhere inside the layer)"
            ) from None
        except BaseException:
            os.close(fd)
            raise

    def remove_existing(self, dfd: int, name: str, keep_dir: bool) -> bool:
        """Make room for a new entry; an existing directory is kept when a directory replaces it."""
        try:
            st = os.lstat(name, dir_fd=dfd)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            shutil.rmtree(name, dir_fd=dfd)
            self._forget_dirs(keep=dfd)  # cached fds below it now point at removed directories
        else:
            os.unlink(name, dir_fd=dfd)
        return False

    def set_attrs(self, dfd: int, name: str, m: tarfile.TarInfo, fd: int | None = None, rel: str = "") -> None:
        """Owner, xattrs, mode (after chown, which clears setuid), mtime: containerd's order."""
        is_link = m.issym()
        if fd is not None:
            os.fchown(fd, m.uid, m.gid)
        else:
            os.chown(name, m.uid, m.gid, dir_fd=dfd, follow_symlinks=False)
        for key, value in m.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                self._set_xattr(dfd, name, key[len("SCHILY.xattr."):], value, fd, is_link)
        if not is_link:
            if fd is not None:
                os.fchmod(fd, m.mode & 0o7777)
            else:
                os.chmod(name, m.mode & 0o7777, dir_fd=dfd)
        if m.isdir():
            self.dir_times.append((rel, int(m.mtime)))
        elif fd is not None:
            os.utime(fd, (m.mtime, m.mtime))
        else:
            os.utime(name, (m.mtime, m.mtime), dir_fd=dfd, follow_symlinks=False)

    def _set_xattr(self, dfd, name, key, value, fd, is_link) -> None:
        if key.startswith(FORBIDDEN_XATTR_PREFIXES):
            return
        raw = value.encode("utf-8", "surrogateescape")
        try:
            if fd is not None:
                os.setxattr(fd, key, raw)
            else:
                os.setxattr(f"/proc/self/fd/{dfd}/{name}", key, raw, follow_symlinks=False)
        except OSError as e:
            if key in IGNORED_XATTRS or (is_link and key.startswith("user.")) or e.errno == errno.EOPNOTSUPP:
                return
            raise

    def finish(self) -> None:
        """Directory mtimes last: creating their children changed them."""
        for rel, mtime in reversed(self.dir_times):
            try:
                fd = syscalls.openat2(self.root, rel, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0,
                                      _IN_ROOT | syscalls.RESOLVE_NO_SYMLINKS)
            except FileNotFoundError:
                continue  # removed by a later entry of the same layer
            try:
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)


def unpack(stream, dest: str) -> UnpackResult:
    """Unpack the uncompressed tar `stream` into the existing empty directory `dest`."""
    os.chmod(dest, 0o755)
    w = _LayerWriter(dest)
    try:
        with tarfile.open(fileobj=ForwardReader(stream), mode="r:") as tar:
            for m in tar:
                w.result.entries += 1
                if w.result.entries > MAX_ENTRIES:
                    raise LayerError(f"layer has more than {MAX_ENTRIES} entries")
                _unpack_entry(w, tar, m)
        w.finish()
        return w.result
    except tarfile.TarError as e:
        raise LayerError(f"layer is not a valid tar archive: {e}") from None
    finally:
        w.close()


def _unpack_entry(w: _LayerWriter, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
    if len(w.dirs) > 512:
        w._forget_dirs()
    parts = clean_name(m.name)
    if not parts:  # the layer's root directory itself
        if m.isdir():
            w.set_attrs(w.parent([]), ".", m, rel=".")
        return
    name = parts[-1]
    dfd = w.parent(parts[:-1])

    if name == OPAQUE_MARKER:
        os.setxattr(f"/proc/self/fd/{dfd}", OVERLAY_OPAQUE_XATTR, b"y")
        w.result.opaque_dirs += 1
        return
    target = whiteout_target(name)
    if target is not None:
        try:
            os.lstat(target, dir_fd=dfd)
            return  # an entry of this same layer wins over its own whiteout
        except FileNotFoundError:
            pass
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=dfd)
        w.result.whiteouts += 1
        return

    rel = "/".join(parts)
    if w.remove_existing(dfd, name, keep_dir=m.isdir()):
        w.set_attrs(dfd, name, m, rel=rel)
        return
    if m.isdir():
        os.mkdir(name, 0o700, dir_fd=dfd)
    elif m.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
        try:
            _copy_data(tar, m, fd)
            w.set_attrs(dfd, name, m, fd=fd)
        finally:
            os.close(fd)
        w.result.size += m.size
        return
    elif m.issym():
        os.symlink(m.linkname, name, dir_fd=dfd)
        w.result.size += len(os.fsencode(m.linkname))  # (a link's size is its target's length, as Docker counts)
    elif m.islnk():
        _hardlink(w, dfd, name, m)
        return
    elif m.ischr() or m.isblk():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(m.devmajor, m.devminor), dir_fd=dfd)
    elif m.isfifo():
        os.mkfifo(name, 0o600, dir_fd=dfd)
    else:
        raise LayerError(f"layer entry {m.name!r} has an unsupported tar type {m.type!r}")
    w.set_attrs(dfd, name, m, rel=rel)


ZERO_BLOCK = bytes(1 << 16)


def _copy_data(tar: tarfile.TarFile, m: tarfile.TarInfo, fd: int) -> None:
    """Write member `m`'s bytes to `fd`: straight from the stream (tarfile's file objects
    cost more than the copy for the many small files of a root filesystem). Blocks of zeros
    are skipped, not written: a file that is mostly holes (a tiny compressed layer can claim
    gigabytes) stays sparse on disk."""
    if m.issparse():
        with tar.extractfile(m) as src:
            while chunk := src.read(1 << 20):
                _write_sparse(fd, chunk)
        os.ftruncate(fd, m.size)
        return
    stream = tar.fileobj
    stream.seek(m.offset_data)
    remaining = m.size
    while remaining:
        chunk = stream.read(min(remaining, 1 << 20))
        if not chunk:
            raise LayerError(f"layer is truncated inside {m.name!r}")
        _write_sparse(fd, chunk)
        remaining -= len(chunk)
    os.ftruncate(fd, m.size)  # a file that ends in a hole gets its length


def _write_sparse(fd: int, data: bytes) -> None:
    step = len(ZERO_BLOCK)
    if data[:step] != ZERO_BLOCK[:len(data[:step])] and data[-step:] != ZERO_BLOCK[:len(data[-step:])]:
        _write_all(fd, data)  # the usual case: data at both ends, written at once
        return
    for start in range(0, len(data), step):
        block = data[start:start + step]  # bytes: compared with memcmp
        if block == ZERO_BLOCK[:len(block)]:
            os.lseek(fd, len(block), os.SEEK_CUR)
        else:
            _write_all(fd, block)


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _hardlink(w: _LayerWriter, dfd: int, name: str, m: tarfile.TarInfo) -> None:
    """A hardlink's target must already be in this layer; it is looked up inside the layer only."""
    tparts = clean_name(m.linkname)
    if not tparts:
        raise LayerError(f"layer entry {m.name!r} is a hardlink to the layer root")
    try:
        tdfd = w._open_in_root("/".join(tparts[:-1]))
    except (FileNotFoundError, NotADirectoryError):
        tdfd = None
    try:
        if tdfd is None:
            raise FileNotFoundError
        os.link(tparts[-1], name, src_dir_fd=tdfd, dst_dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        raise LayerError(
            f"layer entry {m.name!r} is a hardlink to {m.linkname!r}, which is not in this layer"
        ) from None
    finally:
        if tdfd is not None:
            os.close(tdfd)
