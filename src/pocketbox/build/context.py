"""The build context: the files COPY and ADD may read, minus what .dockerignore hides.

A directory is used where it is; a tar (a file, or `-` on stdin) is unpacked into a staging
directory first (below it and never outside, as `cp` extracts). Every source path is resolved
inside the context root (openat2 RESOLVE_IN_ROOT), so `../x` or a link out of the context
reaches nothing of the host."""
import fnmatch
import hashlib
import os
import posixpath
import stat

from pocketbox import syscalls as sc
from pocketbox.build.ignore import Matcher, read_patterns
from pocketbox.errors import PocketboxError

IN_ROOT = sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS
GLOB_CHARS = set("*?[")


class ContextError(PocketboxError):
    def __init__(self, message: str):
        super().__init__(message, 1)


class BuildContext:
    def __init__(self, root: str, staged: bool = False):
        self.root, self.staged = root, staged
        self.fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        text = self.read(".dockerignore", ignored_ok=True)
        try:
            self.matcher = Matcher(read_patterns(text.decode("utf-8", "replace") if text else ""))
        except ValueError as e:
            raise ContextError(f"error checking context: {e}") from None

    def close(self) -> None:
        os.close(self.fd)
        if self.staged:
            from pocketbox.state import remove_tree

            remove_tree(self.root)

    def read(self, rel: str, ignored_ok: bool = False) -> bytes | None:
        """A file of the context (the Dockerfile, .dockerignore); None if it is missing."""
        rel = posixpath.normpath("/" + rel).lstrip("/")
        try:
            fd = sc.openat2(self.fd, rel, os.O_RDONLY | os.O_CLOEXEC, 0, IN_ROOT)
        except (FileNotFoundError, NotADirectoryError):
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read()

    def size(self) -> int:
        return sum(st.st_size for _, _, _, st in self.walk(".") if stat.S_ISREG(st.st_mode))

    # --- sources ---------------------------------------------------------------------------
    def sources(self, src: str, verb: str) -> list[str]:
        """The context paths a COPY/ADD source names (a glob may name several)."""
        if posixpath.normpath(src) == ".." or posixpath.normpath(src).startswith("../"):
            raise ContextError(f"{verb} failed: forbidden path outside the build context: {src} ()")
        rel = posixpath.normpath("/" + src).lstrip("/") or "."
        if GLOB_CHARS & set(rel):
            parts = rel.split("/")
            found = [r for r, _, _, _ in self.walk(".") if len(r.split("/")) == len(parts)
                     and all(fnmatch.fnmatchcase(a, b) for a, b in zip(r.split("/"), parts))]
            return sorted(found)
        if rel != "." and self.matcher.excluded(rel) or not self.exists(rel):
            raise ContextError(f"{verb} failed: file not found in build context or excluded by .dockerignore: "
                               f"stat {src}: file does not exist")
        return [rel]

    def exists(self, rel: str) -> bool:
        try:
            os.close(sc.openat2(self.fd, rel, os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT))
            return True
        except (FileNotFoundError, NotADirectoryError):
            return False

    def open(self, rel: str) -> tuple[int, os.stat_result]:
        """An O_PATH fd of a source (links followed, inside the context) and its stat."""
        fd = sc.openat2(self.fd, rel, os.O_PATH | os.O_CLOEXEC, 0, IN_ROOT)
        return fd, os.fstat(fd)

    def walk(self, rel: str):
        """(path, dir fd, name, lstat) of everything below `rel`, parents first, ignored ones left out.
        The fds are valid during the iteration only."""
        top = sc.openat2(self.fd, rel, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, IN_ROOT)
        prefix = "" if rel in (".", "") else rel + "/"
        try:
            yield from self._walk(top, prefix)
        finally:
            os.close(top)

    def _walk(self, dirfd: int, prefix: str):
        for name in sorted(os.listdir(dirfd)):
            path = prefix + name
            st = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            ignored = self.matcher.excluded(path)
            is_dir = stat.S_ISDIR(st.st_mode)
            if ignored and not (is_dir and self.matcher.may_hold_exceptions(path)):
                continue
            if not ignored:
                yield path, dirfd, name, st
            if is_dir:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
                try:
                    yield from self._walk(sub, path + "/")
                finally:
                    os.close(sub)

    def checksum(self, rels: list[str]) -> str:
        """Content and metadata (name, type, mode, size, link target) of what `rels` copy: the
        cache key of a COPY/ADD (times are left out, as in Docker: a touched file is unchanged)."""
        h = hashlib.sha256()
        for rel in rels:
            fd, st = self.open(rel)
            try:
                _hash_entry(h, "", fd, "", st)
                if stat.S_ISDIR(st.st_mode):
                    for path, dirfd, name, est in self.walk(rel):
                        _hash_entry(h, path[len(rel) + 1:] if rel != "." else path, dirfd, name, est)
            finally:
                os.close(fd)
        return h.hexdigest()


def _hash_entry(h, path: str, dirfd: int, name: str, st: os.stat_result) -> None:
    link = os.readlink(name, dir_fd=dirfd) if stat.S_ISLNK(st.st_mode) else ""
    h.update(f"{path}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0{st.st_size}\0{link}\0".encode())
    if stat.S_ISREG(st.st_mode):
        fd = os.open(name if name else f"/proc/self/fd/{dirfd}", os.O_RDONLY | os.O_CLOEXEC,
                     dir_fd=dirfd if name else None)
        try:
            while chunk := os.read(fd, 1 << 20):
                h.update(chunk)
        finally:
            os.close(fd)


def from_tar(stream, staging: str) -> BuildContext:
    """A context sent as a tar (plain or compressed): unpacked below `staging`."""
    from pocketbox.engine.copy import extract
    from pocketbox.image import streams

    os.mkdir(staging, 0o700)
    fd = os.open(staging, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        extract(streams.decompressed(stream), fd, None)
    except Exception as e:
        from pocketbox.state import remove_tree

        remove_tree(staging)
        raise ContextError(f"the build context is not a valid tar archive: {e}") from None
    finally:
        os.close(fd)
    return BuildContext(staging, staged=True)


def is_archive(head: bytes) -> bool:
    """A tar, or a compressed stream (gzip, bzip2, xz, zstd) that may hold one."""
    return (len(head) > 262 and head[257:262] == b"ustar") or head.startswith(
        (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"))


def open_context(source: str, dockerfile: str | None, stdin, staging: str) -> tuple[BuildContext, str]:
    """The context and the Dockerfile's text, as `docker build` finds them: SOURCE a directory, a
    tar file, or `-` (a tar, or a lone Dockerfile, on stdin). `-f` is a path inside a tar, and a
    file of the caller's (relative to the current directory) with a directory context."""
    name = dockerfile or "Dockerfile"
    own_file = os.path.abspath(dockerfile) if dockerfile and os.path.isdir(source) else None
    if own_file and not os.path.isfile(own_file):
        raise ContextError(f"unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat "
                           f"{own_file}: no such file or directory")
    if source == "-":
        head = stdin.peek(512)[:512] if hasattr(stdin, "peek") else b""
        if not is_archive(head):
            text = stdin.read()
            os.mkdir(staging, 0o700)
            return BuildContext(staging, staged=True), text.decode("utf-8", "replace")
        context = from_tar(stdin, staging)
    elif os.path.isdir(source):
        context = BuildContext(os.path.abspath(source))
    elif os.path.isfile(source):
        with open(source, "rb") as f:
            context = from_tar(f, staging)
    else:
        raise ContextError(f'unable to prepare context: path "{source}" not found')
    try:
        if own_file:
            with open(own_file, "rb") as f:
                data = f.read()
        else:
            data = context.read(name)
            if data is None and not dockerfile:
                data = context.read("dockerfile")
        if data is None:
            raise ContextError(f"Cannot locate specified Dockerfile: {name}")
    except BaseException:
        context.close()
        raise
    return context, data.decode("utf-8", "replace")
