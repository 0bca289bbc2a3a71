"""Where pocketbox keeps its state: one root directory, /var/lib/pocketbox or $POCKETBOX_ROOT.

Everything pocketbox writes lives below it; nothing is global elsewhere."""
import errno
import json
import os
from pathlib import Path

from pocketbox.errors import NotRootError

DEFAULT_ROOT = "/var/lib/pocketbox"


def require_root() -> None:
    """Containers need root (namespaces, mounts, cgroups); fail before writing anything."""
    if os.geteuid() != 0:
        raise NotRootError("this command needs root: run it with sudo (sudo pocketbox ...)")


ROOT_MODE = 0o700  # only root may look inside (records, layers, logs, volumes, credentials)


def state_root() -> Path:
    return Path(os.environ.get("POCKETBOX_ROOT") or DEFAULT_ROOT)


def private_root(root: Path) -> Path:
    """Make the state root (and its missing parents) if needed, and keep it closed to other users."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.mkdir(root, ROOT_MODE)
        except FileExistsError:
            pass
        st = os.stat(root)
    if st.st_mode & 0o7777 != ROOT_MODE and os.geteuid() == st.st_uid == 0:
        os.chmod(root, ROOT_MODE)
    if not os.path.exists(root / RESERVE):
        _make_reserve(root)
    return root


# Space kept back so that stop, rm and the supervisor's exit record work on a full disk: a
# record that cannot be written for lack of space frees this file and tries again.
RESERVE = ".reserve"
RESERVE_SIZE = 1 << 20


def _make_reserve(root: Path) -> None:
    try:
        fd = os.open(root / RESERVE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.posix_fallocate(fd, 0, RESERVE_SIZE)
    except OSError:  # no room for it now: made again by a later command
        os.close(fd)
        os.unlink(root / RESERVE)
        return
    os.close(fd)


def _release_reserve() -> bool:
    try:
        os.unlink(state_root() / RESERVE)
        return True
    except OSError:
        return False


def ensure_dir(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def write_json_atomic(path: Path, data, mode: int = 0o600, durable: bool = True) -> None:
    """Write JSON so that a reader sees the old or the new file, never half of one.

    `durable` adds an fsync before the rename (images, tags). Container state changes several
    times per `run` and skips it: an fsync costs ~9 ms on our disks, and ext4 flushes a file
    that replaces another by rename anyway (auto_da_alloc). On a full disk the state root's
    reserve is given up for it."""
    try:
        _write_json_atomic(path, data, mode, durable)
    except OSError as e:
        if e.errno != errno.ENOSPC or not _release_reserve():
            raise
        _write_json_atomic(path, data, mode, durable)


def _write_json_atomic(path: Path, data, mode: int, durable: bool) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_json(path: Path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def remove_tree(path, ignore_errors: bool = False) -> None:
    """rm -rf `path`, never following a symlink found in it (container files are the user's), and
    quiet when it is gone already (or about any error, with ignore_errors). Not shutil.rmtree:
    importing shutil also loads bz2 and lzma, ~3 ms of every `run --rm` here."""
    try:
        for _, dirs, files, dir_fd in os.fwalk(path, topdown=False):
            for name in files:
                os.unlink(name, dir_fd=dir_fd)
            for name in dirs:  # a symlink to a directory is listed here too, but never entered
                try:
                    os.rmdir(name, dir_fd=dir_fd)
                except NotADirectoryError:
                    os.unlink(name, dir_fd=dir_fd)
        os.rmdir(path)
    except FileNotFoundError:
        pass
    except OSError:
        if not ignore_errors:
            raise


def disk_usage(path) -> int:
    """Bytes a tree takes on disk (allocated blocks, as `du` counts), 0 if it is gone."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
            except OSError:
                pass
    return total
