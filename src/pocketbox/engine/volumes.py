"""Volumes: directories pocketbox manages for containers' data, outside any container's layer.

    volumes/<name>/_data          what is mounted into containers (bind mount)
    volumes/<name>/volume.json    Name, Driver, Mountpoint, Labels, CreatedAt, Anonymous

A named volume survives its containers; an anonymous one (`-v /path`) goes with `rm -v` and
`--rm`. A new, empty volume is filled with what the image has at the mount point (copy-up) the
first time it is mounted; the runtime does that inside the container's mount namespace."""
import os
import re
import time

from pocketbox import events
from pocketbox.errors import Conflict, NotFound, PocketboxError
from pocketbox.state import disk_usage, ensure_dir, read_json, remove_tree, state_root, write_json_atomic

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")


class InvalidVolume(PocketboxError):
    pass


def check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise InvalidVolume(f'create {name}: "{name}" includes invalid characters for a local volume name, '
                            "only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host "
                            "directory, use absolute path")


class Volumes:
    def __init__(self, root=None):
        self.root = (root or state_root()) / "volumes"

    def path(self, name: str):
        return self.root / name

    def get(self, name: str) -> dict:
        record = read_json(self.path(name) / "volume.json") if NAME_RE.match(name) else None
        if not record:
            raise NotFound(f"get {name}: no such volume")
        return record

    def exists(self, name: str) -> bool:
        return NAME_RE.match(name) is not None and (self.path(name) / "volume.json").exists()

    def create(self, name: str | None = None, labels: dict | None = None, anonymous: bool = False) -> dict:
        """Create (or return the existing) volume; an anonymous one gets a random 64-hex name."""
        name = name or os.urandom(32).hex()
        check_name(name)
        if self.exists(name):
            return self.get(name)
        ensure_dir(self.root)
        staging = self.root / f".{name}.{os.getpid()}.tmp"
        os.mkdir(staging, 0o700)
        try:
            os.mkdir(staging / "_data", 0o755)
            record = {"Name": name, "Driver": "local", "Mountpoint": str(self.path(name) / "_data"),
                      "Labels": labels or {}, "Scope": "local", "Options": None, "Anonymous": anonymous,
                      "CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            write_json_atomic(staging / "volume.json", record, mode=0o644)
            try:
                os.rename(staging, self.path(name))
            except OSError:  # another `create` won the race: use its volume
                remove_tree(staging, ignore_errors=True)
                return self.get(name)
            events.emit("volume", "create", name, {"driver": "local"})
            return record
        except BaseException:
            remove_tree(staging, ignore_errors=True)
            raise

    def all(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        out = []
        for p in sorted(self.root.iterdir()):
            rec = read_json(p / "volume.json")
            if rec and not p.name.startswith("."):
                out.append(rec)
        return out

    def users(self, name: str, containers) -> list[dict]:
        """Container records (any state) that mount volume `name`."""
        return [c for c in containers.all() if any(m.get("Type") == "volume" and m.get("Name") == name
                                                   for m in c.get("Mounts", []))]

    def remove(self, name: str, containers, force: bool = False) -> None:
        try:
            self.get(name)
        except NotFound:
            if force:
                return
            raise
        users = self.users(name, containers)
        if users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(c['Id'] for c in users)}]")
        remove_tree(self.path(name))
        events.emit("volume", "destroy", name, {"driver": "local"})

    def size(self, name: str) -> int:
        return disk_usage(self.path(name) / "_data")

    def prune(self, containers, all_volumes: bool = False) -> tuple[list[str], int]:
        """Remove unused volumes: anonymous ones, or all with `all_volumes` (Docker 23+ rules)."""
        removed, freed = [], 0
        for v in self.all():
            if not (v.get("Anonymous") or all_volumes) or self.users(v["Name"], containers):
                continue
            freed += self.size(v["Name"])
            remove_tree(self.path(v["Name"]))
            events.emit("volume", "destroy", v["Name"], {"driver": "local"})
            removed.append(v["Name"])
        return removed, freed
