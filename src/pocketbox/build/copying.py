"""COPY and ADD: what a source names, where it lands, and the checksum that keys the cache.

Docker's rules: a directory source copies its contents; a file lands in DEST when DEST ends with
`/` or is a directory of the image, else it becomes DEST; several sources need a DEST ending in
`/`; new files are owned by 0:0 (or --chown) and keep their mode (or --chmod). ADD also unpacks
a local tar archive (plain, gzip, bzip2, xz) into DEST and downloads an http(s) URL (mode 0600).
Sources are read inside the context root or, with --from, inside the other image's root."""
import fnmatch
import hashlib
import os
import posixpath
import stat

from pocketbox import syscalls as sc
from pocketbox.build import filesystem
from pocketbox.build.context import GLOB_CHARS, ContextError, is_archive

IN_ROOT = filesystem.IN_ROOT


class Plan:
    def __init__(self, verb: str, sources: list[str], dest: str, chown: str | None, chmod: str | None,
                 source_image: dict | None):
        self.verb, self.sources, self.dest = verb, sources, dest
        self.chown, self.source_image = chown, source_image
        self.mode = None
        if chmod is not None:
            try:
                self.mode = int(chmod, 8)
            except ValueError:
                raise ContextError(f"invalid chmod parameter: {chmod!r} is not an octal number") from None
            if not 0 <= self.mode <= 0o7777:
                raise ContextError(f"invalid chmod parameter: {chmod!r}")
        self.items: list[tuple[str, str]] = []  # ("context", rel) | ("download", path) | ("image", pattern)
        self.downloads: list[str] = []
        self.names: dict[str, str] = {}       # a download's path -> the file name its URL gives
        self.checksum = ""

    def resolve(self, context, store) -> None:
        """Find the sources (before the step, so that a missing one fails with Docker's message)."""
        self.context, self.store = context, store
        h = hashlib.sha256()
        rels = []
        for src in self.sources:
            if self.verb == "ADD" and src.startswith(("http://", "https://")):
                path = self._download(src, store)
                self.items.append(("download", path))
                with open(path, "rb") as f:
                    h.update(hashlib.sha256(f.read()).digest())
            elif self.source_image is not None:
                self.items.append(("image", src))
                h.update(f"{self.source_image.get('Id', '')}\0{src}\0".encode())
            else:
                found = context.sources(src, self.verb)
                rels += found
                self.items += [("context", rel) for rel in found]
        if not self.items:
            raise ContextError(f"{self.verb} failed: no source files were specified")
        if len(self.items) > 1 and not self.dest.endswith("/"):
            raise ContextError(f"When using {self.verb} with more than one source file, the destination must be a "
                               "directory and end with a /")
        if rels:
            h.update(context.checksum(rels).encode())
        kind = "multi" if len(self.items) > 1 else "dir" if rels and _is_dir(context, rels[0]) else "file"
        self.checksum = f"{kind}:{h.hexdigest()}"

    def _download(self, url: str, store) -> str:
        from pocketbox.errors import RegistryError
        from pocketbox.registry.http import request

        path = str(store.staging("add-url"))
        try:
            response = request("GET", url)
            if response.status != 200:
                raise ContextError(f"failed to GET {url} with status {response.status}")
            with open(path, "wb") as f:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
            response.close()
        except (OSError, RegistryError) as e:
            if os.path.exists(path):
                os.unlink(path)
            raise ContextError(f"{self.verb} failed: failed to download {url}: {e}") from None
        self.downloads.append(path)
        name = posixpath.basename(url.split("?", 1)[0].rstrip("/")) or "index.html"
        self.names[path] = name
        return path

    def close(self) -> None:
        for path in self.downloads:
            if os.path.exists(path):
                os.unlink(path)

    def apply(self, store, image: dict | None):
        return filesystem.change_files(store, image, self._work)

    # --- in the child (filesystem.change_files) ------------------------------------------------
    def _owner(self, root: str) -> tuple[int, int] | None:
        if not self.chown:
            return None
        from pocketbox.engine import users
        from pocketbox.errors import PocketboxError

        user, sep, group = self.chown.partition(":")
        try:
            u = users.resolve(self.chown if sep else user, [root])
        except PocketboxError as e:
            raise ContextError(f"unable to convert uid/gid chown string to host mapping: {e}") from None
        return u.uid, (u.gid if sep else u.uid)

    def _work(self, root: str, staging: str) -> None:
        owner = self._owner(root)
        dirs_owner = owner or (0, 0)
        src_root = None
        if self.source_image is not None:
            src_root = os.open(filesystem.mount_image(self.store, self.source_image, staging, "from"),
                               os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        opened = []
        for kind, value in self.items:
            if kind == "image":
                for rel in _glob(src_root, value):
                    fd = sc.openat2(src_root, rel, os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT)
                    opened.append((fd, rel, _walker(fd)))
            elif kind == "context":
                fd, _ = self.context.open(value)
                opened.append((fd, value, lambda rel=value: _relative(self.context.walk(rel), rel)))
            else:
                fd = os.open(value, os.O_PATH | os.O_CLOEXEC)
                opened.append((fd, self.names[value], None))
        if not opened:
            raise ContextError(f"{self.verb} failed: no source files were specified")
        if len(opened) > 1 and not self.dest.endswith("/"):
            raise ContextError(f"When using {self.verb} with more than one source file, the destination must be a "
                               "directory and end with a /")
        for fd, rel, walk in opened:
            st = os.fstat(fd)
            name = posixpath.basename(rel.rstrip("/")) or "."
            if stat.S_ISDIR(st.st_mode):
                dest_fd = filesystem.make_dirs(root, self.dest, dirs_owner)
                try:
                    filesystem.write_entries(dest_fd, walk(), owner, self.mode)
                finally:
                    os.close(dest_fd)
                continue
            if self.verb == "ADD" and kind != "download" and stat.S_ISREG(st.st_mode) and _archive(fd):
                dest_fd = filesystem.make_dirs(root, self.dest, dirs_owner)
                try:
                    _unpack(fd, dest_fd, owner)
                finally:
                    os.close(dest_fd)
                continue
            existing = filesystem.lookup(root, self.dest)
            if self.dest.endswith("/") or (existing is not None and stat.S_ISDIR(existing.st_mode)):
                into, final = self.dest, name
            else:
                into, final = posixpath.dirname(self.dest) or "/", posixpath.basename(self.dest)
            mode = self.mode if self.mode is not None else (0o600 if kind == "download" else None)
            dest_fd = filesystem.make_dirs(root, into, dirs_owner)
            try:
                filesystem.write_entries(dest_fd, [(final, fd, "", st)], owner, mode)
            finally:
                os.close(dest_fd)


def _is_dir(context, rel: str) -> bool:
    fd, st = context.open(rel)
    os.close(fd)
    return stat.S_ISDIR(st.st_mode)


def _relative(entries, rel: str):
    """Context walk entries renamed relative to the source directory `rel`."""
    cut = 0 if rel in (".", "") else len(rel) + 1
    for path, dirfd, name, st in entries:
        yield path[cut:], dirfd, name, st


def _walker(fd: int):
    """A walk of an image directory (its fd), as context walks are: (path, dir fd, name, lstat)."""
    def walk():
        top = os.open(f"/proc/self/fd/{fd}", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            yield from _walk_fd(top, "")
        finally:
            os.close(top)
    return walk


def _walk_fd(dirfd: int, prefix: str):
    for name in sorted(os.listdir(dirfd)):
        st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        yield prefix + name, dirfd, name, st
        if stat.S_ISDIR(st.st_mode):
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
            try:
                yield from _walk_fd(sub, prefix + name + "/")
            finally:
                os.close(sub)


def _glob(root_fd: int, pattern: str) -> list[str]:
    """Paths of an image (inside its root) that a COPY --from source names, globs expanded."""
    rel = posixpath.normpath("/" + pattern).lstrip("/") or "."
    if not GLOB_CHARS & set(rel):
        try:
            os.close(sc.openat2(root_fd, rel, os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT))
        except (FileNotFoundError, NotADirectoryError):
            raise ContextError(f"COPY failed: stat {'/' + rel}: file does not exist") from None
        return [rel]
    found = [""]
    for part in rel.split("/"):
        nxt = []
        for base in found:
            if not GLOB_CHARS & set(part):
                nxt.append(f"{base}/{part}" if base else part)
                continue
            try:
                fd = sc.openat2(root_fd, base or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
            except (FileNotFoundError, NotADirectoryError):
                continue
            try:
                nxt += [f"{base}/{n}" if base else n for n in sorted(os.listdir(fd)) if fnmatch.fnmatchcase(n, part)]
            finally:
                os.close(fd)
        found = nxt
    return [f for f in found if _exists(root_fd, f)]


def _exists(root_fd: int, rel: str) -> bool:
    try:
        os.close(sc.openat2(root_fd, rel, os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT))
        return True
    except (FileNotFoundError, NotADirectoryError):
        return False


def _archive(fd: int) -> bool:
    with open(f"/proc/self/fd/{fd}", "rb") as f:
        head = f.read(512)
    return is_archive(head) and not head.startswith(b"\x28\xb5\x2f\xfd")  # (zstd: not an ADD archive)


def _unpack(fd: int, dest_fd: int, owner) -> None:
    """ADD of a local archive: its entries below DEST (owners from the archive, or --chown)."""
    import bz2
    import gzip
    import lzma

    from pocketbox.engine.copy import extract

    with open(f"/proc/self/fd/{fd}", "rb") as raw:
        head = raw.read(6)
        raw.seek(0)
        stream = gzip.GzipFile(fileobj=raw) if head.startswith(b"\x1f\x8b") else \
            bz2.BZ2File(raw) if head.startswith(b"BZh") else \
            lzma.LZMAFile(raw) if head.startswith(b"\xfd7zXZ\x00") else raw
        extract(stream, dest_fd, owner)
