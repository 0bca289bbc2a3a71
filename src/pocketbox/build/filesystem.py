"""A build step that changes files without running a command (COPY, ADD, WORKDIR).

The image so far is mounted as an overlay with a fresh upper dir, in a private mount namespace
of a child process; the step works there with every path resolved inside the image's root
(openat2 RESOLVE_IN_ROOT: a link planted by the image cannot lead to a host file), and the upper
dir becomes the new layer through the code `commit` uses. Nothing is mounted outside the child,
and the staging directory goes whatever happens."""
import os
import posixpath
import stat
import tarfile
import threading

from pocketbox import syscalls as sc
from pocketbox.errors import PocketboxError
from pocketbox.processes import fork_call, fork_result

IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


class StepError(PocketboxError):
    def __init__(self, message: str):
        super().__init__(message, 1)


def _lowers(store, image: dict | None, staging: str) -> list[str]:
    lowers = [str(store.layer_dir(layer["ChainID"]) / "diff") for layer in reversed((image or {}).get("Layers", []))]
    empty = os.path.join(staging, "empty")
    os.makedirs(empty, exist_ok=True)
    return lowers + [empty]  # (an overlay without an upper dir needs two lower dirs)


def mount_image(store, image: dict | None, staging: str, name: str, upper: str | None = None) -> str:
    """In the child: the image's files at staging/name (read-only, or over `upper`)."""
    target = os.path.join(staging, name)
    os.makedirs(target, exist_ok=True)
    options = "lowerdir=" + ":".join(_lowers(store, image, staging))
    if upper:
        work = os.path.join(staging, "work")
        os.makedirs(work, exist_ok=True)
        options += f",upperdir={upper},workdir={work}"
    sc.mount("overlay", target, "overlay", 0 if upper else sc.MS_RDONLY, options)
    return target


def change_files(store, image: dict | None, work):
    """Run work(root path, staging dir) on the image's files in a child; returns the layer of what
    it changed (imagebuild.layer_from_upper: None when nothing changed)."""
    from pocketbox.engine.imagebuild import layer_from_upper
    from pocketbox.state import remove_tree

    staging = str(store.staging("build-step"))
    os.mkdir(staging, 0o700)
    upper = os.path.join(staging, "upper")
    os.mkdir(upper, 0o755)
    try:
        def in_child():
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            work(mount_image(store, image, staging, "root", upper), staging)
        failure = fork_result(*fork_call(in_child))
        if failure:
            raise StepError(failure["error"])
        return layer_from_upper(store, upper, set(), _lowers(store, image, staging)[:-1], adopt=True)
    finally:
        remove_tree(staging)


# --- in the child: paths in the image's root ----------------------------------------------------
def make_dirs(root: str, path: str, owner: tuple[int, int], depth: int = 0) -> int:
    """mkdir -p of the image path `path` (new directories 0755, owned by `owner`); an O_PATH fd of
    it. A link on the way is followed inside the root, also when its target is yet to be made."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    try:
        for i in range(len(parts)):
            rel = "/".join(parts[:i + 1])
            try:
                os.close(sc.openat2(root_fd, rel, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT))
                continue
            except FileNotFoundError:
                pass
            except NotADirectoryError:
                raise StepError(f"mkdir {'/' + rel}: not a directory") from None
            parent = sc.openat2(root_fd, "/".join(parts[:i]) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0,
                                IN_ROOT)
            try:
                try:
                    st = os.stat(parts[i], dir_fd=parent, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                if st is not None and stat.S_ISLNK(st.st_mode):  # a dangling link: make its target, in the root
                    if depth > 40:
                        raise StepError(f"mkdir {'/' + rel}: too many levels of symbolic links")
                    target = os.readlink(parts[i], dir_fd=parent)
                    here = os.readlink(f"/proc/self/fd/{parent}")[len(os.path.realpath(root)):] or "/"
                    real = posixpath.join(here, target)  # (an absolute target replaces `here`)
                    return make_dirs(root, posixpath.join(real, *parts[i + 1:]), owner, depth + 1)
                os.mkdir(parts[i], 0o755, dir_fd=parent)
                os.chown(parts[i], *owner, dir_fd=parent, follow_symlinks=False)
            finally:
                os.close(parent)
        return sc.openat2(root_fd, "/".join(parts) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
    finally:
        os.close(root_fd)


def lookup(root: str, path: str) -> os.stat_result | None:
    """stat of the image path (links followed inside the root); None if it is missing."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = sc.openat2(root_fd, posixpath.normpath("/" + path).lstrip("/") or ".", os.O_PATH | os.O_CLOEXEC, 0,
                        IN_ROOT)
    except (FileNotFoundError, NotADirectoryError):
        return None
    finally:
        os.close(root_fd)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def write_entries(dest_fd: int, entries, owner: tuple[int, int] | None, mode: int | None) -> None:
    """Copy `entries` ((name below dest, dir fd, name there, lstat), parents first) below dest_fd.
    They travel as a tar through a pipe to engine/copy.extract, which creates nothing outside dest."""
    from pocketbox.engine.copy import extract

    r, w = os.pipe2(os.O_CLOEXEC)
    failure = []

    def produce():
        try:
            with os.fdopen(w, "wb") as out, tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for name, dirfd, entry, st in entries:
                    _add(tar, name, dirfd, entry, st, owner, mode)
        except BrokenPipeError:
            pass
        except BaseException as e:  # noqa: BLE001 (the reader says what failed)
            failure.append(e)
    producer = threading.Thread(target=produce)
    producer.start()
    try:
        with os.fdopen(r, "rb") as stream:
            extract(stream, dest_fd, None)
    finally:
        producer.join()
    if failure:
        raise failure[0]


def _add(tar, name: str, dirfd: int, entry: str, st: os.stat_result, owner, mode) -> None:
    ti = tarfile.TarInfo(name)
    ti.uid, ti.gid = owner if owner else (0, 0)
    ti.mode = mode if mode is not None else stat.S_IMODE(st.st_mode)
    ti.mtime = int(st.st_mtime)
    fmt = stat.S_IFMT(st.st_mode)
    if fmt == stat.S_IFREG:
        ti.size = st.st_size
        fd = os.open(entry, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd) if entry else \
            os.open(f"/proc/self/fd/{dirfd}", os.O_RDONLY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            tar.addfile(ti, f)
        return
    if fmt == stat.S_IFDIR:
        ti.type = tarfile.DIRTYPE
    elif fmt == stat.S_IFLNK:
        ti.type, ti.linkname = tarfile.SYMTYPE, os.readlink(entry, dir_fd=dirfd)
        if mode is not None:
            ti.mode = stat.S_IMODE(st.st_mode)
    elif fmt == stat.S_IFIFO:
        ti.type = tarfile.FIFOTYPE
    else:
        return  # devices and sockets of a context are not copied
    tar.addfile(ti)
