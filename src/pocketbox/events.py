"""The event log: one JSON line per thing that happened to a container, image, volume or network,
appended to events.jsonl in the state root. `pocketbox events` reads (and follows) it.

Docker's daemon keeps its events in memory and streams them; pocketbox has no daemon, so every
pocketbox process that acts appends here (one write(2) of one line with O_APPEND: lines of
concurrent writers never interleave). The file is cut in two past MAX_BYTES: events.jsonl.1 is
the older half. Writing an event never makes an action fail."""
import json
import os
import time

MAX_BYTES = 1 << 20
NAME = "events.jsonl"


def _path() -> str:
    from pocketbox.state import state_root

    return str(state_root() / NAME)


def emit(kind: str, action: str, actor: str, attributes: dict | None = None) -> None:
    """Docker's event message: Type, Action, Actor {ID, Attributes}, scope, time, timeNano."""
    now = time.time_ns()
    event = {"Type": kind, "Action": action, "Actor": {"ID": actor, "Attributes": dict(attributes or {})},
             "scope": "local", "time": now // 1_000_000_000, "timeNano": now}
    if kind == "container":  # the older fields Docker still sends for containers
        event.update(status=action, id=actor, **({"from": attributes["image"]} if "image" in (attributes or {})
                                                 else {}))
    path = _path()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        os.write(fd, (json.dumps(event) + "\n").encode())
        if os.fstat(fd).st_size > MAX_BYTES:
            os.replace(path, path + ".1")
    except OSError:
        pass
    finally:
        os.close(fd)


def container(action: str, record: dict, **extra) -> None:
    """A container event with Docker's attributes: its image, name, labels, and `extra`."""
    attributes = {**(record.get("Config", {}).get("Labels") or {}), "image": record.get("ImageName", ""),
                  "name": record.get("Name", "").lstrip("/"), **{k: str(v) for k, v in extra.items()}}
    emit("container", action, record.get("Id", ""), attributes)


def read(since: float | None = None, until: float | None = None) -> tuple[list[dict], tuple[int, int]]:
    """The events kept, oldest first, between `since` and `until` (epoch seconds); and where the
    current file ends (its inode and size), for follow()."""
    path = _path()
    events = []
    for p in (path + ".1", path):
        try:
            with open(p, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue
        events += _parse(data)
    try:
        st = os.stat(path)
        position = (st.st_ino, st.st_size)
    except FileNotFoundError:
        position = (0, 0)
    return [e for e in events if _within(e, since, until)], position


def follow(position: tuple[int, int], until: float | None = None):
    """Events appended after `position`, as they come (a generator that polls the file), until
    the time `until` if one is given."""
    path = _path()
    inode, offset = position
    pending = b""
    while until is None or time.time() <= until:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            time.sleep(0.1)
            continue
        try:
            st = os.fstat(fd)
            if st.st_ino != inode:  # cut in two since: read the new file from its start
                inode, offset, pending = st.st_ino, 0, b""
            os.lseek(fd, offset, os.SEEK_SET)
            data = os.read(fd, 1 << 20)
        finally:
            os.close(fd)
        if not data:
            time.sleep(0.1)
            continue
        offset += len(data)
        data = pending + data
        end = data.rfind(b"\n") + 1
        pending = data[end:]
        yield from _parse(data[:end])


def _parse(data: bytes) -> list[dict]:
    out = []
    for line in data.split(b"\n"):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and isinstance(event.get("timeNano"), int):
            out.append(event)
    return out


def _within(event: dict, since: float | None, until: float | None) -> bool:
    t = event["timeNano"] / 1e9
    return (since is None or t >= since) and (until is None or t <= until)


def matches(event: dict, wanted: dict[str, list[str]]) -> bool:
    """Docker's event filters: type, event (action), container/image/volume/network (ID or name),
    label (key or key=value)."""
    attributes = event["Actor"]["Attributes"]
    for key, values in wanted.items():
        if key == "type" and event["Type"] not in values:
            return False
        if key == "event" and event["Action"].split(":")[0] not in values:
            return False
        if key in ("container", "image", "volume", "network"):
            if event["Type"] != key and not (key == "image" and event["Type"] == "container"):
                return False
            names = {event["Actor"]["ID"], attributes.get("name", "")} if event["Type"] == key else \
                {attributes.get("image", "")}
            if not any(v in names or event["Actor"]["ID"].startswith(v) for v in values):
                return False
        if key == "label" and not all(
                v.partition("=")[0] in attributes and (not v.partition("=")[1] or
                                                       attributes[v.partition("=")[0]] == v.partition("=")[2])
                for v in values):
            return False
    return True
