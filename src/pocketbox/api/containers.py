"""/containers/* and /exec/*: the Engine API's container endpoints, on the engine the CLI uses.

`docker run` is several requests: create, attach (before start, so no output is lost), wait
(headers at once), start, resize. An attach to a container that is not running yet waits here
until its start: then the container is started under its supervisor in "wait for a client" mode
and this attach is that client (shim.py). Output goes to the client as Docker's frames, or raw
bytes for a container with a terminal."""
import base64
import json
import os
import socket
import threading
import time

from pocketbox import streams_mux as mux
from pocketbox.api.server import BadRequest, route
from pocketbox.errors import Conflict, NotFound, PocketboxError

PENDING: dict[str, list["Waiter"]] = {}  # container ID -> attaches waiting for its start
PENDING_LOCK = threading.Lock()
EXECS: dict[str, dict] = {}              # exec ID -> Docker's exec inspect (the service's memory only)


class Waiter:
    def __init__(self):
        self.go = threading.Event()
        self.connected = threading.Event()
        self.gone = False


def _engine():
    from pocketbox.engine.containers import Containers

    return Containers()


def _life():
    from pocketbox.engine.lifecycle import Lifecycle

    return Lifecycle()


def _running(record: dict) -> bool:
    return record["State"]["Status"] in ("running", "paused", "restarting")


# --- list, create, inspect -------------------------------------------------------------------------
@route("GET", "/containers/json")
def list_containers(h):
    from pocketbox.api.listing import container_summary
    from pocketbox.engine import filters as f

    engine = _engine()
    records = engine.all()
    wanted = h.filters()
    for key in wanted:
        if key not in f.CONTAINER_KEYS:
            raise BadRequest(f"invalid filter '{key}'")
    limit = h.number("limit", -1)
    if not h.flag("all") and limit <= 0 and not {"status", "exited"} & set(wanted):
        records = [r for r in records if r["State"]["Status"] in ("running", "paused", "restarting")]
    records = f.containers(records, wanted, engine.find)
    if limit > 0:
        records = records[:limit]
    size = h.flag("size")
    h.send_json(200, [container_summary(r, engine.sizes(r) if size else None) for r in records])


@route("POST", "/containers/create")
def create(h):
    from pocketbox.api.create import extra_endpoints, run_options

    body = h.body()
    name = h.arg("name") or None
    try:
        opts = run_options(body, name)
    except (TypeError, ValueError, AttributeError, KeyError) as e:  # a field of the wrong type or shape
        raise BadRequest(f"invalid container configuration: {type(e).__name__}: {e}") from None
    if not opts.image:
        raise BadRequest("Config cannot be empty in order to create a container")
    engine = _engine()
    image = engine.image_for(opts.image)  # NotFound (404): the client pulls, then asks again
    record = engine.create(opts, image)
    endpoints = extra_endpoints(body, record["HostConfig"]["NetworkMode"])
    if any(v.get("Aliases") for v in endpoints.values()) or set(endpoints) - {record["HostConfig"]["NetworkMode"]}:
        def keep(r):
            configs = r.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
            for net, config in endpoints.items():
                configs.setdefault(net, {}).update({k: v for k, v in config.items() if v})
        engine.update(record["Id"], keep)
    h.send_json(201, {"Id": record["Id"], "Warnings": []})


@route("GET", "/containers/{ref}/json")
def inspect(h, ref):
    engine = _engine()
    record = engine.find(ref)
    if h.flag("size"):
        record["SizeRw"], record["SizeRootFs"] = engine.sizes(record)
    record["HostConfig"].setdefault("LogConfig", {"Type": "json-file", "Config": {}})
    from pocketbox.engine.networking import with_networks

    h.send_json(200, with_networks(record, engine.store.root))


# --- lifecycle -----------------------------------------------------------------------------------
@route("POST", "/containers/{ref}/start")
def start(h, ref):
    life = _life()
    record = life.engine.find(ref)
    if _running(record):
        h.send_empty(304)
        return
    with PENDING_LOCK:
        waiters = [w for w in PENDING.pop(record["Id"], []) if not w.gone]
    try:
        if waiters:  # attaches wait: the supervisor starts the container when the first one connects
            _, ready = life.start(record["Id"], wait_attach=True, fork=True)
            for w in waiters:
                w.go.set()
            waiters[0].connected.wait(10)
            life.wait_started(record["Id"], ready)
        else:
            life.start(record["Id"], fork=True)
    except PocketboxError as e:
        code = getattr(e, "exit_code", 125)
        if record["HostConfig"].get("AutoRemove"):  # as Docker's daemon: --rm holds for a failed start too
            try:
                life.engine.remove(record["Id"], force=True, volumes=True)
            except PocketboxError:
                pass
        h.send_json(400 if code in (126, 127) else 500, {"message": str(e)})
        return
    h.send_empty(204)


@route("POST", "/containers/{ref}/stop")
def stop(h, ref):
    life = _life()
    record = life.engine.find(ref)
    if not _running(record):
        h.send_empty(304)
        return
    life.stop(record["Id"], h.number("t"), h.arg("signal"))
    h.send_empty(204)


@route("POST", "/containers/{ref}/restart")
def restart(h, ref):
    life = _life()
    record = life.engine.find(ref)
    life.stop(record["Id"], h.number("t"), h.arg("signal"))
    life.start(record["Id"], fork=True)
    h.send_empty(204)


@route("POST", "/containers/{ref}/kill")
def kill(h, ref):
    _life().kill(ref, h.arg("signal") or "KILL")
    h.send_empty(204)


@route("POST", "/containers/{ref}/pause")
def pause(h, ref):
    _life().pause(ref, True)
    h.send_empty(204)


@route("POST", "/containers/{ref}/unpause")
def unpause(h, ref):
    _life().pause(ref, False)
    h.send_empty(204)


@route("POST", "/containers/{ref}/rename")
def rename(h, ref):
    name = h.arg("name")
    if not name:
        raise BadRequest("rename needs a name")
    _engine().rename(ref, name)
    h.send_empty(204)


@route("DELETE", "/containers/{ref}")
def remove(h, ref):
    engine = _engine()
    record = engine.find(ref)
    if _running(record) and not h.flag("force"):
        raise Conflict(f"cannot remove container \"{record['Name']}\": container is running: stop the container "
                       "before removing or force remove")
    engine.remove(record["Id"], force=h.flag("force"), volumes=h.flag("v"))
    h.send_empty(204)


@route("POST", "/containers/prune")
def prune(h):
    h.send_json(200, {"ContainersDeleted": _engine().prune() or None, "SpaceReclaimed": 0})


@route("POST", "/containers/{ref}/update")
def update(h, ref):
    from pocketbox.engine.update import update_container

    body = h.body()
    restart_policy = body.get("RestartPolicy") or {}
    restart_text = None
    if restart_policy.get("Name"):
        restart_text = restart_policy["Name"] + (f":{restart_policy['MaximumRetryCount']}"
                                                 if restart_policy.get("MaximumRetryCount") else "")
    changes = {"memory": str(body["Memory"]) if body.get("Memory") else None,
               "memory_swap": str(body["MemorySwap"]) if body.get("MemorySwap") else None,
               "memory_reservation": str(body["MemoryReservation"]) if body.get("MemoryReservation") else None,
               "cpus": str(body["NanoCpus"] / 1e9) if body.get("NanoCpus") else None,
               "cpu_shares": body.get("CpuShares") or None, "cpu_period": body.get("CpuPeriod") or None,
               "cpu_quota": body.get("CpuQuota") or None, "cpuset_cpus": body.get("CpusetCpus") or None,
               "cpuset_mems": body.get("CpusetMems") or None, "pids_limit": body.get("PidsLimit") or None,
               "restart": restart_text}
    update_container(ref, changes)
    h.send_json(200, {"Warnings": []})


@route("POST", "/containers/{ref}/wait")
def wait(h, ref):
    """Headers at once (the CLI waits for them before it sends start), the status at the exit:
    not-running (the default), next-exit, or removed."""
    engine = _engine()
    condition = h.arg("condition") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise BadRequest(f"invalid condition: {condition}")
    record = engine.find(ref)
    cid, finished = record["Id"], record["State"].get("FinishedAt")
    h.start_stream()
    while True:
        try:
            now = engine.find(cid)
        except NotFound:
            code = engine.exit_code_of(cid)
            break
        status = now["State"]["Status"]
        if condition == "not-running" and status not in ("running", "paused", "restarting"):
            code = now["State"]["ExitCode"]
            break
        if condition == "next-exit" and status in ("exited", "dead") and now["State"].get("FinishedAt") != finished:
            code = now["State"]["ExitCode"]
            break
        time.sleep(0.05)
    h.chunk(json.dumps({"StatusCode": code or 0, "Error": None}).encode() + b"\n")
    h.end_stream()


# --- output ------------------------------------------------------------------------------------------
@route("GET", "/containers/{ref}/logs")
def logs(h, ref):
    from pocketbox.logs import Follower, read_all
    from pocketbox.text.format import parse_time

    life = _life()
    record = life.engine.find(ref)
    if (record["HostConfig"].get("LogConfig") or {}).get("Type") == "none":
        raise BadRequest("configured logging driver does not support reading")
    want = {"stdout": h.flag("stdout"), "stderr": h.flag("stderr")}
    if not any(want.values()):
        raise BadRequest("Bad parameters: you must choose at least one stream")
    tty = record["Config"]["Tty"]
    since, until = float(h.arg("since") or 0), float(h.arg("until") or 0)
    path = life.log_path(record)
    entries, offset = read_all(path)
    follower = Follower(path, offset) if h.flag("follow") and not until else None
    entries = [e for e in entries if (not since or (parse_time(e["time"]) or 0) >= since)
               and (not until or (parse_time(e["time"]) or 0) <= until)]
    tail = h.arg("tail") or "all"
    if tail != "all":
        try:
            entries = entries[-int(tail):] if int(tail) > 0 else []
        except ValueError:
            raise BadRequest(f"invalid tail value {tail!r}") from None
    h.start_stream("application/vnd.docker.raw-stream" if tty else "application/vnd.docker.multiplexed-stream")

    def send(batch):
        for e in batch:
            if want[e["stream"]]:
                data = ((e["time"] + " ") if h.flag("timestamps") else "") + e["log"]
                payload = data.encode()
                h.chunk(payload if tty else mux.frame(mux.STDERR if e["stream"] == "stderr" else mux.STDOUT, payload))
    send(entries)
    try:
        while follower is not None:
            fresh = follower.read()
            send(fresh)
            if not fresh:
                try:
                    still = _running(life.engine.find(record["Id"]))
                except NotFound:  # removed: what it wrote last is still in the open file
                    still = False
                if not still:
                    send(follower.read())
                    break
                time.sleep(0.1)
    finally:
        if follower is not None:
            follower.close()
    h.end_stream()


@route("POST", "/containers/{ref}/attach")
def attach(h, ref):
    from pocketbox import attach as client

    life = _life()
    record = life.engine.find(ref)
    want = {"stdin": h.flag("stdin"), "stdout": h.flag("stdout"), "stderr": h.flag("stderr")}
    if not any(want.values()):
        want = {"stdin": True, "stdout": True, "stderr": True}
    if not h.flag("stream") and h.flag("logs"):
        raise BadRequest("pocketbox's attach streams (stream=1); use /logs for past output")
    tty = record["Config"]["Tty"]
    want["stdin"] = want["stdin"] and record["Config"]["OpenStdin"]
    if _running(record):
        conn = h.hijack(multiplexed=not tty)
        try:
            shim = client.connect(str(life.engine.dir(record["Id"])))
        except OSError:
            return  # started in the foreground by the CLI: nothing to attach to
    else:
        waiter = Waiter()
        with PENDING_LOCK:
            PENDING.setdefault(record["Id"], []).append(waiter)
        conn = h.hijack(multiplexed=not tty)
        try:
            while not waiter.go.wait(0.5):
                if _peer_closed(conn):
                    waiter.gone = True
                    return
            shim = client.connect(str(life.engine.dir(record["Id"])))
        finally:
            waiter.connected.set()
    _relay(h, conn, shim, tty, want)


def _peer_closed(conn: socket.socket) -> bool:
    import select

    ready, _, _ = select.select([conn], [], [], 0)
    if not ready:
        return False
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _relay(h, conn: socket.socket, shim: socket.socket, tty: bool, want: dict) -> None:
    """The supervisor's frames to the client (raw with a terminal), the client's bytes to the
    supervisor as stdin; a half-close from the client is stdin's end."""
    done = threading.Event()

    def pump_stdin():
        while True:
            try:
                data = h.rfile.read1(65536)
            except OSError:
                data = b""
            if done.is_set():
                if not data:
                    return
                continue  # (draining: a close with unread input would reset the connection)
            try:
                shim.sendall(mux.frame(mux.STDIN, data) if data else mux.frame(mux.STDIN_EOF, b""))
            except OSError:
                pass
            if not data:
                return
    reader = threading.Thread(target=pump_stdin, daemon=True)
    reader.start()
    frames = mux.FrameReader()
    try:
        while True:
            data = shim.recv(65536)
            if not data:
                break
            ended = False
            for kind, payload in frames.feed(data):
                if kind == mux.EXIT:
                    ended = True
                elif kind in (mux.STDOUT, mux.STDERR) and want["stdout" if kind == mux.STDOUT else "stderr"]:
                    conn.sendall(payload if tty else mux.frame(kind, payload))
            if ended:
                break
    except OSError:
        pass
    finally:
        done.set()
        shim.close()
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        reader.join(5)


@route("POST", "/containers/{ref}/resize")
def resize(h, ref):
    from pocketbox import attach as client

    life = _life()
    record = life.engine.find(ref)
    rows, cols = h.number("h", 0), h.number("w", 0)
    if _running(record) and rows and cols:
        try:
            shim = client.connect(str(life.engine.dir(record["Id"])))
            shim.sendall(mux.frame(mux.RESIZE, f"{rows} {cols}".encode()))
            shim.close()
        except OSError:
            pass
    h.send_empty(200)


@route("GET", "/containers/{ref}/top")
def top(h, ref):
    from pocketbox.engine.stats import processes

    titles, rows = processes(_engine(), ref, (h.arg("ps_args") or "-ef").split())
    h.send_json(200, {"Titles": titles, "Processes": rows})


@route("GET", "/containers/{ref}/stats")
def stats(h, ref):
    from pocketbox.engine import stats as collect

    engine = _engine()
    record = engine.find(ref)
    stream = h.flag("stream", True) and not h.flag("one-shot")
    before = collect.sample(record)
    if not stream:
        time.sleep(0.5)
        now = collect.sample(engine.find(record["Id"]))
        h.send_json(200, {**now, "precpu_stats": before["cpu_stats"]})
        return
    h.start_stream()
    while True:
        time.sleep(1.0)
        try:
            now = collect.sample(engine.find(record["Id"]))
        except NotFound:
            break
        h.chunk(json.dumps({**now, "precpu_stats": before["cpu_stats"]}).encode() + b"\n")
        before = now
    h.end_stream()


@route("GET", "/containers/{ref}/changes")
def changes(h, ref):
    from pocketbox.engine.spec import mount_points
    from pocketbox.image.changes import diff

    record = _engine().find(ref)
    lowers = record["GraphDriver"]["Data"]["LowerDir"].split(":")
    kinds = {"C": 0, "A": 1, "D": 2}
    h.send_json(200, [{"Path": path, "Kind": kinds[kind]} for kind, path in
                      diff(record["GraphDriver"]["Data"]["UpperDir"], lowers, mount_points(record))] or None)


@route("GET", "/containers/{ref}/export")
def export(h, ref):
    from pocketbox.engine.imagebuild import export as export_tar

    engine = _engine()
    record = engine.find(ref)
    r, w = os.pipe()
    worker = threading.Thread(target=lambda: (export_tar(engine, record["Id"], w), os.close(w)), daemon=True)
    h.start_stream("application/x-tar")
    worker.start()
    with os.fdopen(r, "rb") as stream:
        while chunk := stream.read(1 << 20):
            h.chunk(chunk)
    worker.join()
    h.end_stream()


# --- archive (docker cp) ---------------------------------------------------------------------------
def _stat_header(info: dict) -> dict:
    info = {k: v for k, v in info.items() if k != "dir"}
    return {"X-Docker-Container-Path-Stat": base64.b64encode(json.dumps(info).encode()).decode()}


@route("HEAD", "/containers/{ref}/archive")
def archive_head(h, ref):
    from pocketbox.engine.copy import stat_path

    path = h.arg("path") or ""
    info = stat_path(_engine(), ref, path)
    if info is None:
        raise NotFound(f"Could not find the file {path} in container {ref}")
    h.send_empty(200, _stat_header(info))


@route("GET", "/containers/{ref}/archive")
def archive_get(h, ref):
    from pocketbox.engine.copy import read_archive

    def consume(info, stream):
        h.send_response(200)
        h._common_headers()
        for k, v in _stat_header(info).items():
            h.send_header(k, v)
        h.send_header("Content-Type", "application/x-tar")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        while chunk := stream.read(1 << 20):
            h.chunk(chunk)
        h.end_stream()
    read_archive(_engine(), ref, h.arg("path") or "/", consume)


@route("PUT", "/containers/{ref}/archive")
def archive_put(h, ref):
    from pocketbox.engine.copy import stat_path, write_archive

    engine = _engine()
    path = h.arg("path") or "/"
    info = stat_path(engine, ref, path)
    if info is None:
        raise NotFound(f"Could not find the file {path} in container {ref}")
    if not info["dir"]:
        raise BadRequest(f"extraction point is not a directory: {path}")
    def produce(fd):
        for data in h.body_chunks():
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
    write_archive(engine, ref, path, produce, keep_owner=h.flag("copyUIDGID"))
    h.send_empty(200)


# --- exec ------------------------------------------------------------------------------------------
@route("POST", "/containers/{ref}/exec")
def exec_create(h, ref):
    record = _engine().find(ref)
    if record["State"]["Status"] == "paused":
        raise Conflict(f"Container {record['Id']} is paused, unpause the container before exec")
    if record["State"]["Status"] != "running":
        raise Conflict(f"Container {record['Id']} is not running")
    body = h.body()
    cmd = body.get("Cmd")
    if not cmd:
        raise BadRequest("No exec command specified")
    exec_id = os.urandom(32).hex()
    EXECS[exec_id] = {"ID": exec_id, "Running": False, "ExitCode": None, "ContainerID": record["Id"], "Pid": 0,
                      "OpenStdin": bool(body.get("AttachStdin")), "OpenStdout": bool(body.get("AttachStdout")),
                      "OpenStderr": bool(body.get("AttachStderr")), "CanRemove": False,
                      "DetachKeys": body.get("DetachKeys") or "",
                      "ProcessConfig": {"tty": bool(body.get("Tty")), "entrypoint": cmd[0], "arguments": cmd[1:],
                                        "privileged": bool(body.get("Privileged")), "user": body.get("User") or ""},
                      "_request": body}
    h.send_json(201, {"Id": exec_id})


def _exec_entry(exec_id: str) -> dict:
    entry = EXECS.get(exec_id)
    if entry is None:
        raise NotFound(f"No such exec instance: {exec_id}")
    return entry


@route("GET", "/exec/{exec_id}/json")
def exec_inspect(h, exec_id):
    entry = _exec_entry(exec_id)
    h.send_json(200, {k: v for k, v in entry.items() if not k.startswith("_")})


@route("POST", "/exec/{exec_id}/resize")
def exec_resize(h, exec_id):
    import fcntl
    import struct
    import termios

    entry = _exec_entry(exec_id)
    console = entry.get("_console")
    if console is not None:
        try:
            fcntl.ioctl(console, termios.TIOCSWINSZ, struct.pack("HHHH", h.number("h", 24), h.number("w", 80), 0, 0))
        except OSError:
            pass
    h.send_empty(200)


@route("POST", "/exec/{exec_id}/start")
def exec_start(h, exec_id):
    from pocketbox.engine.lifecycle import exec_process

    entry = _exec_entry(exec_id)
    if entry["Running"] or entry["ExitCode"] is not None:
        raise Conflict(f"exec {exec_id} has already run")
    request = entry["_request"]
    body = h.body()
    tty = bool(body.get("Tty", request.get("Tty")))
    run = dict(interactive=entry["OpenStdin"], tty=tty, env=list(request.get("Env") or []),
               workdir=request.get("WorkingDir") or None, user=request.get("User") or None,
               privileged=bool(request.get("Privileged")))
    command = list(request["Cmd"])
    engine = _engine()
    entry["Running"] = True
    if body.get("Detach"):
        try:
            entry["ExitCode"] = exec_process(engine, entry["ContainerID"], command, detach=True, **run)
        finally:
            entry["Running"] = False
        h.send_empty(200)
        return
    conn = h.hijack(multiplexed=not tty)
    if h.headers.get("User-Agent", "").startswith("docker-sdk-python"):
        time.sleep(0.02)  # docker-py reads the raw socket only after the 101: bytes sent with it may be lost
    code = None
    try:
        if tty:
            code = exec_process(engine, entry["ContainerID"], command,
                                on_console=lambda console, child: _relay_console(h, conn, console, entry), **run)
        else:
            code = _exec_with_pipes(h, conn, engine, entry, command, run)
    except PocketboxError as e:
        code = 126 if e.exit_code == 127 else e.exit_code  # Docker's exec: a command that cannot run is 126
        try:
            message = f"{e}\n".encode()
            conn.sendall(message if tty else mux.frame(mux.STDOUT, message))
        except OSError:
            pass
    finally:
        entry["ExitCode"] = code  # (before Running goes false: a client polling sees both at once)
        entry["Running"] = False
    try:
        conn.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def _exec_with_pipes(h, conn, engine, entry, command, run) -> int:
    """An exec without a terminal: its stdout and stderr as Docker's frames, the client's bytes as stdin."""
    from pocketbox.engine.lifecycle import exec_process

    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    in_r, in_w = os.pipe2(os.O_CLOEXEC) if entry["OpenStdin"] else (None, None)
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)

    def copy(fd, kind):
        while data := os.read(fd, 65536):
            if entry["OpenStdout" if kind == mux.STDOUT else "OpenStderr"]:
                try:
                    conn.sendall(mux.frame(kind, data))
                except OSError:
                    pass
        os.close(fd)

    def feed():
        while True:
            try:
                data = h.rfile.read1(65536)
            except OSError:
                data = b""
            if not data:
                break
            try:
                os.write(in_w, data)
            except OSError:
                break
        os.close(in_w)
    copiers = [threading.Thread(target=copy, args=(out_r, mux.STDOUT)), threading.Thread(target=copy,
                                                                                          args=(err_r, mux.STDERR))]
    for t in copiers:
        t.start()
    if in_w is not None:
        threading.Thread(target=feed, daemon=True).start()
    try:
        return exec_process(engine, entry["ContainerID"], command, stdio=(in_r if in_r is not None else null, out_w,
                                                                          err_w), **run)
    finally:
        for fd in (out_w, err_w, null) + ((in_r,) if in_r is not None else ()):
            os.close(fd)
        for t in copiers:
            t.join()


def _relay_console(h, conn, console: int, entry: dict) -> None:
    """An exec with a terminal: the pty's bytes to the client and back, until the pty closes."""
    entry["_console"] = console

    def feed():
        while True:
            try:
                data = h.rfile.read1(65536)
            except OSError:
                return
            if not data:
                return
            try:
                os.write(console, data)
            except OSError:
                return
    threading.Thread(target=feed, daemon=True).start()
    try:
        while True:
            try:
                data = os.read(console, 65536)
            except OSError:  # EIO: every holder of the terminal is gone
                break
            if not data:
                break
            conn.sendall(data)
    finally:
        entry.pop("_console", None)
        os.close(console)
