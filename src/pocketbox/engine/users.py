"""Resolve `-u name[:group]` against the container's own /etc/passwd and /etc/group, as Docker does.

The files are read from the container's layer directories (upper first, then the image's layers
from the top), without mounting anything: the first layer that has the file wins; an overlay
whiteout there means the file was deleted."""
import os
import stat

from pocketbox.errors import PocketboxError


class User:
    __slots__ = ("uid", "gid", "additional_gids", "home")

    def __init__(self, uid: int, gid: int, additional_gids: list[int], home: str):
        self.uid, self.gid, self.additional_gids, self.home = uid, gid, additional_gids, home


def read_layered(dirs: list[str], rel: str) -> str | None:
    for d in dirs:
        path = os.path.join(d, rel)
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            return None  # whiteout
        if stat.S_ISREG(st.st_mode):
            with open(path, errors="replace") as f:
                return f.read()
        return None
    return None


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
        uid = int(entry[2])
    gid = int(entry[3]) if entry else 0
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            g = next((e for e in groups if len(e) >= 3 and e[0] == group), None)
            if g is None:
                raise PocketboxError(f"unable to find group {group}: no matching entries in group file")
            gid = int(g[2])
    username = entry[0] if entry else None
    extra = sorted({int(e[2]) for e in groups if len(e) >= 4 and username and username in e[3].split(",")
                    and int(e[2]) != gid})
    for g in group_add:
        if g.isdigit():
            extra.append(int(g))
            continue
        found = next((e for e in groups if len(e) >= 3 and e[0] == g), None)
        if found is None:
            raise PocketboxError(f"unable to find group {g}: no matching entries in group file")
        extra.append(int(found[2]))
    home = entry[5] if entry else "/"
    return User(uid, gid, sorted(set(extra)), home or "/")
