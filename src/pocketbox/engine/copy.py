"""`cp`: files between the host and a container, moved as tar streams (Docker's archive API).

The container side runs in a child process that sees the container's files as the container does:
a running container through /proc/PID/root (its mounts and volumes included), a stopped one by
mounting its overlay and binds in a private mount namespace. Every container path is resolved
there with openat2(RESOLVE_IN_ROOT), and the tree is read with fds relative to each parent
(os.fwalk), so no link the container planted can lead to a host file. What comes out of a
container is written on the host below the destination only (RESOLVE_IN_ROOT against it): its
names and links are the container's, and hostile.

Docker's rules for where things land (SRC a file or a directory, SRC ending in /., DEST existing
or not) are in _placement()."""
import json
import os
import posixpath
import stat
import tarfile

from pocketbox import syscalls as sc
from pocketbox.errors import NotFound, PocketboxError
from pocketbox.processes import fork_call, fork_result

IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS


class CopyError(PocketboxError):
    pass


def _info(name: str, st: os.stat_result, link: str = "") -> dict:
    """Docker's X-Docker-Container-Path-Stat: name, size, mode (Go's FileMode bits), mtime, linkTarget."""
    mode = stat.S_IMODE(st.st_mode) | (1 << 31 if stat.S_ISDIR(st.st_mode) else 0) | \
        (1 << 27 if stat.S_ISLNK(st.st_mode) else 0)
    from pocketbox.text.format import go_time

    return {"name": name, "size": st.st_size, "mode": mode, "mtime": go_time(st.st_mtime_ns), "linkTarget": link,
            "dir": stat.S_ISDIR(st.st_mode)}


# --- the container's side (in a child process) ---------------------------------------------------
def _in_container(engine, record: dict, work) -> tuple[int, int]:
    """Fork a child that calls work(root_fd) with the container's root; returns (pid, error pipe)."""
    return fork_call(lambda: work(_root_fd(engine, record)))


def _finish_child(pid: int, err_r: int, ref: str, path: str) -> None:
    info = fork_result(pid, err_r)
    if info:
        if info.get("missing"):
            raise NotFound(f"No such container:path: {ref}:{path}")
        raise CopyError(info["error"])


def _root_fd(engine, record: dict) -> int:
    """The container's root as an O_PATH fd (in the child): /proc/PID/root when it runs, else its
    filesystem mounted here, in a mount namespace of our own."""
    if record["State"]["Status"] in ("running", "paused"):
        return os.open(f"/proc/{record['State']['Pid']}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    from pocketbox.runtime import rootfs
    from pocketbox.runtime.init import OVERLAY_ANNOTATION
    from pocketbox.state import read_json

    spec = read_json(engine.dir(record["Id"]) / "config.json")
    root = str(engine.dir(record["Id"]) / "rootfs")
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_SLAVE | sc.MS_REC)
    sc.mount("overlay", root, "overlay", 0, spec["annotations"][OVERLAY_ANNOTATION])
    rootfs.mount_all(root, [m for m in spec.get("mounts", []) if m.get("type") == "bind"], lambda *a, **k: None)
    return os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def _lookup(root_fd: int, path: str, follow: bool) -> tuple[int, str, os.stat_result]:
    """(parent dir fd, name, lstat) of `path` in the container; `follow`: through a final symlink."""
    rel = posixpath.normpath("/" + path).strip("/")
    if follow and rel:
        fd = sc.openat2(root_fd, rel, os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT)
        st = os.fstat(fd)
        return fd, "", st
    parent, _, name = rel.rpartition("/")
    pfd = sc.openat2(root_fd, parent or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
    if not name:
        return pfd, "", os.fstat(pfd)
    return pfd, name, os.stat(name, dir_fd=pfd, follow_symlinks=False)


def _tar_tree(out, fd: int, name: str, st: os.stat_result, top: str) -> None:
    """Write `name` (below fd; "" = fd itself) as a tar whose first entry is `top`."""
    from pocketbox.image.changes import tar_entry

    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if not stat.S_ISDIR(st.st_mode):
            if name:
                tar_entry(tar, top, name, fd, st)
            else:  # a followed link to a file: read it through /proc/self/fd of its O_PATH fd
                real = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_CLOEXEC)
                try:
                    ti = tarfile.TarInfo(top)
                    ti.mode, ti.uid, ti.gid, ti.mtime, ti.size = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                                                                  st.st_mtime, st.st_size)
                    with os.fdopen(real, "rb", closefd=False) as f:
                        tar.addfile(ti, f)
                finally:
                    os.close(real)
            return
        dfd = sc.openat2(fd, name or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0,
                         IN_ROOT | (sc.RESOLVE_NO_SYMLINKS if name else 0))
        try:
            ti = tarfile.TarInfo(top)
            ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = tarfile.DIRTYPE, stat.S_IMODE(st.st_mode), st.st_uid, \
                st.st_gid, st.st_mtime
            tar.addfile(ti)
            for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=dfd):
                dirnames.sort()
                for entry in sorted(dirnames + filenames):
                    try:
                        est = os.stat(entry, dir_fd=dirfd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    rel = posixpath.normpath(posixpath.join(top, dirpath, entry))
                    tar_entry(tar, rel, entry, dirfd, est)
        finally:
            os.close(dfd)


def read_archive(engine, ref: str, path: str, consume, follow: bool = False):
    """GET archive: a tar of `path` (its first entry named by the path's last component), made in
    the container's view; consume(stat, stream) reads it here meanwhile. Returns what consume returns."""
    record = engine.find(ref)
    info_r, info_w = os.pipe2(os.O_CLOEXEC)
    tar_r, tar_w = os.pipe2(os.O_CLOEXEC)

    def work(root_fd):
        os.close(info_r)
        os.close(tar_r)
        fd, name, st = _lookup(root_fd, path, follow)
        link = os.readlink(name, dir_fd=fd) if name and stat.S_ISLNK(st.st_mode) else ""
        top = posixpath.basename(posixpath.normpath("/" + path)) or "."
        os.write(info_w, json.dumps(_info(top, st, link)).encode())
        os.close(info_w)
        with os.fdopen(tar_w, "wb") as out:
            _tar_tree(out, fd, name, st, top)
    pid, err_r = _in_container(engine, record, work)
    os.close(info_w)
    os.close(tar_w)
    data = b""
    while chunk := os.read(info_r, 65536):
        data += chunk
    os.close(info_r)
    stream = os.fdopen(tar_r, "rb")
    try:
        if data:  # (none: the child failed; _finish_child says why)
            return consume(json.loads(data), stream)
    finally:
        stream.close()  # a consumer that stopped early: the child's next write fails, and it ends
        _finish_child(pid, err_r, ref, path)


def stat_path(engine, ref: str, path: str) -> dict | None:
    """HEAD archive: the stat of `path` in the container (through a final link), None if missing."""
    record = engine.find(ref)
    r, w = os.pipe2(os.O_CLOEXEC)

    def work(root_fd):
        try:
            fd, name, st = _lookup(root_fd, path, follow=True)
        except FileNotFoundError:
            return
        os.write(w, json.dumps(_info(posixpath.basename(path.rstrip("/")) or "/", st)).encode())
    pid, err_r = _in_container(engine, record, work)
    os.close(w)
    data = os.read(r, 65536)
    os.close(r)
    _finish_child(pid, err_r, ref, path)
    return json.loads(data) if data else None


def write_archive(engine, ref: str, path: str, produce, keep_owner: bool = False,
                  rename: tuple[str, str] | None = None) -> None:
    """PUT archive: produce(fd) writes a tar here, which the child extracts into the directory
    `path` of the container. Owners are the container's root unless keep_owner (cp -a)."""
    record = engine.find(ref)
    if record["HostConfig"].get("ReadonlyRootfs"):
        raise CopyError("container rootfs is marked read-only")
    root_uid = ((record.get("IdMappings") or {}).get("UidMap") or [{"hostID": 0}])[0]["hostID"]
    tar_r, tar_w = os.pipe2(os.O_CLOEXEC)

    def work(root_fd):
        os.close(tar_w)
        rel = posixpath.normpath("/" + path).strip("/")
        dest = sc.openat2(root_fd, rel or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
        with os.fdopen(tar_r, "rb") as stream:
            extract(stream, dest, None if keep_owner else (root_uid, root_uid), rename)
    pid, err_r = _in_container(engine, record, work)
    os.close(tar_r)
    try:
        produce(tar_w)
    except BrokenPipeError:
        pass  # the child stopped reading: it says why
    finally:
        os.close(tar_w)
        _finish_child(pid, err_r, ref, path)


# --- writing a tar below a directory -----------------------------------------------------------
def extract(stream, dest_fd: int, owner: tuple[int, int] | None, rename: tuple[str, str] | None = None) -> None:
    """Unpack a tar below dest_fd and never outside it (each path resolved IN_ROOT of dest_fd).
    `owner`: every entry's uid/gid (None: the tar's); `rename`: (first component, its new name,
    "." to drop it)."""
    from pocketbox.image.unpack import clean_name

    dir_times = []
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for m in tar:
            parts = clean_name(m.name)
            if rename and parts and parts[0] == rename[0]:
                parts = ([] if rename[1] == "." else [rename[1]]) + parts[1:]
            if not parts:
                continue
            pfd = _parent(dest_fd, parts[:-1])
            try:
                _entry(tar, m, pfd, parts[-1], dest_fd, owner)
                if m.isdir():
                    dir_times.append(("/".join(parts), m.mtime))
            finally:
                os.close(pfd)
    for rel, mtime in reversed(dir_times):  # after their children changed them
        try:
            fd = sc.openat2(dest_fd, rel, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
        except OSError:
            continue
        os.utime(fd, (mtime, mtime))
        os.close(fd)


def _parent(dest_fd: int, parts: list[str]) -> int:
    fd = os.dup(dest_fd)
    for i, comp in enumerate(parts):
        try:
            os.mkdir(comp, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        nfd = sc.openat2(dest_fd, "/".join(parts[:i + 1]), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
        os.close(fd)
        fd = nfd
    return fd


def _entry(tar, m, pfd: int, name: str, dest_fd: int, owner) -> None:
    try:
        st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
    except FileNotFoundError:
        st = None
    if st is not None and not (m.isdir() and stat.S_ISDIR(st.st_mode)):
        if stat.S_ISDIR(st.st_mode):
            raise CopyError(f"cannot overwrite directory {name!r} with non-directory")
        if m.isdir():
            raise CopyError(f"cannot overwrite non-directory {name!r} with directory")
        os.unlink(name, dir_fd=pfd)
    uid, gid = owner or (m.uid, m.gid)
    if m.isdir():
        if st is None:
            os.mkdir(name, 0o700, dir_fd=pfd)
    elif m.isreg():
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=pfd)
        try:
            src = tar.extractfile(m)
            while chunk := src.read(1 << 20):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fchown(fd, uid, gid)
            os.fchmod(fd, m.mode & 0o7777)
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)
        return
    elif m.issym():
        os.symlink(m.linkname, name, dir_fd=pfd)
        os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        return
    elif m.islnk():
        from pocketbox.image.unpack import clean_name

        target = clean_name(m.linkname)
        tfd = _parent(dest_fd, target[:-1])
        try:
            os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)
        return
    elif m.isfifo():
        os.mkfifo(name, 0o600, dir_fd=pfd)
    elif m.ischr() or m.isblk():
        os.mknod(name, (stat.S_IFCHR if m.ischr() else stat.S_IFBLK) | 0o600, os.makedev(m.devmajor, m.devminor),
                 dir_fd=pfd)
    else:
        return
    os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
    os.chmod(name, m.mode & 0o7777, dir_fd=pfd)
    if not m.isdir():
        os.utime(name, (m.mtime, m.mtime), dir_fd=pfd, follow_symlinks=False)


# --- `cp` ------------------------------------------------------------------------------------------
def _placement(src: str, src_is_dir: bool, dest: str, dest_info: dict | None, top: str) -> tuple[str, tuple]:
    """Docker's rules: (the directory to extract into, (top entry, its new name)).
    dest_info: {"dir": bool} of DEST, None when it does not exist."""
    if src.endswith("/") and not src_is_dir and not src.endswith("/."):
        raise CopyError(f"source {src!r} is not a directory")
    if dest_info is not None and dest_info["dir"]:
        if src_is_dir and (src.endswith("/.") or src == "."):
            return dest, (top, ".")
        return dest, (top, top)
    if dest_info is not None and src_is_dir:
        raise CopyError("cannot copy a directory to a file")
    if dest.endswith("/"):
        raise CopyError(f"destination directory {dest!r} must exist")
    parent = posixpath.dirname(dest.rstrip("/")) or ("/" if dest.startswith("/") else ".")
    return parent, (top, posixpath.basename(dest.rstrip("/")))


def copy_out(engine, ref: str, src: str, dest: str, follow: bool = False) -> None:
    """cp CONTAINER:SRC DEST (DEST "-": the tar to stdout)."""
    def consume(info, stream):
        if dest == "-":
            while chunk := stream.read(1 << 20):
                os.write(1, chunk)
            return
        try:
            dest_info = {"dir": stat.S_ISDIR(os.stat(dest).st_mode)}
        except FileNotFoundError:
            dest_info = None
        into, rename = _placement(src, info["dir"], dest, dest_info, info["name"])
        try:
            dest_fd = os.open(into, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise CopyError(f"lstat {into}: no such file or directory") from None
        try:
            extract(stream, dest_fd, None if os.geteuid() else (0, 0), rename)
        finally:
            os.close(dest_fd)
    read_archive(engine, ref, src, consume, follow)


def copy_in(engine, src: str, ref: str, dest: str, follow: bool = False, keep_owner: bool = False) -> None:
    """cp SRC CONTAINER:DEST (SRC "-": a tar from stdin, extracted into the directory DEST)."""
    if src == "-":
        info = stat_path(engine, ref, dest)
        if info is None or not info["dir"]:
            raise CopyError(f"destination \"{ref}:{dest}\" must be a directory")
        write_archive(engine, ref, dest, lambda fd: _pump(0, fd), keep_owner)
        return
    try:
        st = os.stat(src) if follow else os.lstat(src)
    except FileNotFoundError:
        raise CopyError(f"lstat {os.path.abspath(src)}: no such file or directory") from None
    dest_info = stat_path(engine, ref, dest)
    top = os.path.basename(os.path.normpath(os.path.abspath(src))) or "."
    into, rename = _placement(src, stat.S_ISDIR(st.st_mode), dest, dest_info, top)
    if stat_path(engine, ref, into) is None:
        raise NotFound(f"No such container:path: {ref}:{into}")
    absolute = os.path.abspath(src)

    def produce(fd):
        with os.fdopen(fd, "wb", closefd=False) as out:
            if follow:
                target = os.open(absolute, os.O_PATH | os.O_CLOEXEC)
                try:
                    _tar_tree(out, target, "", st, top)
                finally:
                    os.close(target)
            else:
                parent = os.open(os.path.dirname(absolute), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    _tar_tree(out, parent, os.path.basename(absolute), st, top)
                finally:
                    os.close(parent)
    write_archive(engine, ref, into, produce, keep_owner, rename)


def _pump(src: int, dst: int) -> None:
    while chunk := os.read(src, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view):]
