"""Resolve `-u name[:group]` against the container's own /etc/passwd and /etc/group, as Docker does.

The files are read from the container's layer directories (upper first, then the image's layers
from the top), without mounting anything: the first layer that has the file wins; an overlay
whiteout there means the file was deleted. Each directory is image (or container) content, so the
path is resolved inside it (openat2 RESOLVE_IN_ROOT): an `/etc -> /etc` symlink stays in the image."""
import os
import stat

from pocketbox import syscalls as sc
from pocketbox.errors import PocketboxError

MAX_ID = 2**31 - 1  # runc's bound
MAX_ACCOUNT_FILE = 4 << 20  # a passwd or group file bigger than this is not read (hostile images)


class User:
    __slots__ = ("uid", "gid", "additional_gids", "home")

    def __init__(self, uid: int, gid: int, additional_gids: list[int], home: str):
        self.uid, self.gid, self.additional_gids, self.home = uid, gid, additional_gids, home


def read_layered(dirs: list[str], rel: str) -> str | None:
    for d in dirs:
        try:
            root = os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            continue
        try:
            fd = sc.openat2(root, rel, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, 0,
                            sc.RESOLVE_IN_ROOT | sc.RESOLVE_NO_MAGICLINKS)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:  # a device, a loop of links, another mount: not an account file
            return None
        finally:
            os.close(root)
        try:
            st = os.fstat(fd)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return None  # whiteout
            if not stat.S_ISREG(st.st_mode):
                return None
            return os.read(fd, MAX_ACCOUNT_FILE).decode(errors="replace")
        finally:
            os.close(fd)
    return None


def _id(text: str) -> int:
    if not text.isdigit():
        raise PocketboxError(f"invalid user or group id {text[:20]!r} in the image's /etc/passwd or /etc/group")
    return int(text)


def _entries(text: str | None) -> list[list[str]]:
    return [line.split(":") for line in (text or "").splitlines() if line and not line.startswith("#")]


def resolve(user: str | None, dirs: list[str], group_add: list[str] = ()) -> User:
    """uid[:gid] or name[:group]; missing names are a clear error (Docker's wording).
    `group_add` (--group-add) adds supplementary groups by name or number."""
    spec = user or "0"
    name, _, group = spec.partition(":")
    passwd = _entries(read_layered(dirs, "etc/passwd"))
    groups = _entries(read_layered(dirs, "etc/group"))
    entry = None
    if name.isdigit():
        uid = int(name)
        entry = next((e for e in passwd if len(e) >= 7 and e[2] == name), None)
    else:
        entry = next((e for e in passwd if len(e) >= 7 and e[0] == name), None)
        if entry is None:
            raise PocketboxError(f"unable to find user {name}: no matching entries in passwd file")
        uid = _id(entry[2])
    gid = _id(entry[3]) if entry else 0
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((e for e in groups if len(e) >= 3 and e[0] == group), None)
            if g is None:
                raise PocketboxError(f"unable to find group {group}: no matching entries in group file")
            gid = _id(g[2])
    username = entry[0] if entry else None
    # Docker's (runc's) supplementary groups: the primary group, then every group that lists the user
    extra = [gid] + sorted({int(e[2]) for e in groups if len(e) >= 4 and e[2].isdigit() and username
                            and username in e[3].split(",") and int(e[2]) != gid})
    for g in group_add:
        if g.isdigit():
            extra.append(int(g))
            continue
        found = next((e for e in groups if len(e) >= 3 and e[0] == g), None)
        if found is None:
            raise PocketboxError(f"unable to find group {g}: no matching entries in group file")
        extra.append(_id(found[2]))
    home = entry[5] if entry else "/"
    for number in (uid, gid, *extra):
        if not 0 <= number <= MAX_ID:  # (uid_t)-1 would mean "unchanged" to setresuid: root stays root
            raise PocketboxError(f"invalid user {spec!r}: uids and gids must be in range 0-{MAX_ID}")
    return User(uid, gid, list(dict.fromkeys(extra)), home or "/")
