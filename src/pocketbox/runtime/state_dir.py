"""The OCI runtime's own record of its containers, one directory each under --root (as runc keeps
/run/runc/<id>/state.json):

    <root>/<id>/state.json   id, bundle, pid and its start time, created, cgroup path, config
    <root>/<id>/exec.fifo    exists from `create` until `start`: the container waits on it

The status is never stored; it is read from the kernel each time, so a killed runtime or a
crashed engine leaves nothing stale: the pid (checked with its start time) gone = stopped;
the fifo still there = created; a frozen cgroup = paused; else running."""
import os
import time

from pocketbox import jsonlite
from pocketbox.processes import process_alive, process_start_time

DEFAULT_ROOT = "/run/pocketbox-runc"
ID_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")  # runc's
FIFO = "exec.fifo"
OCI_VERSION = "1.0.2"


class OCIError(Exception):
    """An operation the runtime refuses; the message is runc's where runc has one."""


class ContainerState:
    def __init__(self, root: str, data: dict):
        self.root, self.data = root, data
        self.id = data["id"]
        self.dir = os.path.join(root, self.id)

    @property
    def spec(self) -> dict:
        return self.data["config"]

    @property
    def pid(self) -> int:
        return self.data["pid"]

    def fifo(self) -> str:
        return os.path.join(self.dir, FIFO)

    def cgroup(self):
        from pocketbox.runtime.cgroups import ContainerCgroup

        return ContainerCgroup(self.id, path=self.data["cgroupPath"])

    def status(self) -> str:
        if not process_alive(self.pid, self.data.get("pidStartTime")):
            return "stopped"
        if os.path.exists(self.fifo()):
            return "created"
        if self._frozen():
            return "paused"
        return "running"

    def _frozen(self) -> bool:
        cgroup = self.cgroup()
        unified = cgroup.paths.get("unified")
        try:
            if unified:
                with open(f"{unified}/cgroup.events") as f:
                    return "frozen 1" in f.read().splitlines()
            freezer = cgroup.dir_of("freezer")
            if freezer:
                with open(f"{freezer}/freezer.state") as f:
                    return f.read().strip() == "FROZEN"
        except OSError:
            pass
        return False

    def oci_state(self) -> dict:
        """The runtime-spec's state document (what `state` prints)."""
        status = self.status()
        out = {"ociVersion": OCI_VERSION, "id": self.id, "pid": 0 if status == "stopped" else self.pid,
               "status": status, "bundle": self.data["bundle"], "rootfs": self.data["rootfs"],
               "created": self.data["created"], "owner": ""}
        if self.spec.get("annotations"):
            out["annotations"] = self.spec["annotations"]
        return out


def check_id(container_id: str) -> None:
    if not container_id or not set(container_id) <= ID_CHARACTERS or container_id in (".", ".."):
        raise OCIError(f"invalid id format: {container_id}")


def load(root: str, container_id: str) -> ContainerState:
    check_id(container_id)
    try:
        with open(os.path.join(root, container_id, "state.json")) as f:
            return ContainerState(root, jsonlite.load(f))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        raise OCIError("container does not exist") from None


def all_states(root: str) -> list[ContainerState]:
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        try:
            out.append(load(root, name))
        except OCIError:
            continue  # a `create` in progress, or one killed before it wrote its state
    return out


def reserve(root: str, container_id: str) -> str:
    """The container's directory, made now (mkdir is the lock: two creates of one id cannot both win)."""
    check_id(container_id)
    os.makedirs(root, 0o711, exist_ok=True)
    path = os.path.join(root, container_id)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        if os.path.exists(os.path.join(path, "state.json")):
            raise OCIError(f"container with id exists: {container_id}") from None
        if abandoned(path):  # a create killed before it wrote its state
            clean_abandoned(path, container_id)
            os.mkdir(path, 0o711)
        else:
            raise OCIError(f"container with id exists: {container_id}") from None
    return path


def _creating(path: str) -> list[str] | None:
    """What `creating` says: the creator's pid and start time, and the cgroup path it uses."""
    try:
        with open(os.path.join(path, "creating")) as f:
            fields = f.read().split("\n")
        return fields if len(fields) == 3 else None
    except OSError:
        return None


def abandoned(path: str) -> bool:
    """A directory without state whose creator is gone."""
    fields = _creating(path)
    if fields is None:
        return time.time() - os.stat(path).st_mtime > 60
    return not process_alive(int(fields[0]), fields[1])


def clean_abandoned(path: str, container_id: str) -> None:
    """What a `create` killed on the way left: its container's processes and cgroup, its directory."""
    fields = _creating(path)
    if fields is not None:
        from pocketbox.runtime.cgroups import ContainerCgroup

        ContainerCgroup(container_id, path=fields[2]).destroy()
    remove(path)


def mark_creating(path: str, cgroup_path: str) -> None:
    """Written before anything else exists: whoever finds the directory without state.json can
    tell a create in progress from one that was killed, and what it may have left."""
    with open(os.path.join(path, "creating"), "w") as f:
        f.write(f"{os.getpid()}\n{process_start_time(os.getpid())}\n{cgroup_path}")


def save(path: str, data: dict) -> None:
    """state.json, written whole (tmp + rename): a reader never sees half of it."""
    tmp = os.path.join(path, "state.json.tmp")
    with open(tmp, "w") as f:
        f.write(jsonlite.dumps(data))
    os.rename(tmp, os.path.join(path, "state.json"))
    try:
        os.unlink(os.path.join(path, "creating"))
    except FileNotFoundError:
        pass


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def remove(path: str) -> None:
    """A container's directory: only files, never a tree (the record, the fifo, `creating`)."""
    try:
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)
    except FileNotFoundError:
        pass
