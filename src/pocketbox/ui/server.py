"""`pocketbox ui`: a local web page that shows what the engine holds and how a container is made.

The page is one more client of the engine: it calls the same Docker Engine API routes that
`pocketbox serve` answers (under /engine/), so it gets the same data and errors as the `docker`
CLI would. Besides them it asks for what no Engine API has, the teaching views (under /ui/):
a container's anatomy read from the kernel, the layer that last wrote a file, a run replayed
from its --explain events, and a live feed of requests and events (server-sent events).

It listens on loopback over TCP, and only a request that carries the token the command printed
(in the URL, then as a SameSite=Strict cookie) is answered: whoever has the URL can do what
root can. A Host header other than the one it listens on is refused (DNS rebinding)."""
import collections
import hmac
import http.server
import json
import os
import queue
import secrets
import socketserver
import sys
import threading
import time
import urllib.parse

from pocketbox.api.server import Handler, status_of
from pocketbox.errors import PocketboxError

STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
FILES = {"/": "index.html", "/static/app.js": "app.js", "/static/style.css": "style.css"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css"}
COOKIE = "pocketbox_ui"
UI_ROUTES: list[tuple[str, str, object]] = []


def ui_route(method: str, prefix: str):
    def register(function):
        UI_ROUTES.append((method, prefix, function))
        return function
    return register


class Feed:
    """The live feed: every API request the page makes and every event of the event log, to each
    page that listens (one queue per server-sent-events connection)."""

    def __init__(self):
        self.listeners: list[queue.Queue] = []
        self.recent: collections.deque = collections.deque(maxlen=200)
        self.lock = threading.Lock()

    def publish(self, kind: str, data: dict) -> None:
        item = {"kind": kind, "time": time.time(), **data}
        with self.lock:
            self.recent.append(item)
            for q in self.listeners:
                q.put(item)

    def listen(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=1000)
        with self.lock:
            self.listeners.append(q)
            for item in self.recent:
                q.put(item)
        return q

    def leave(self, q: queue.Queue) -> None:
        with self.lock:
            self.listeners.remove(q)


class UIHandler(Handler):
    token = ""
    host = ""
    feed = Feed()

    def address_string(self) -> str:
        return self.client_address[0]

    def log_message(self, format: str, *args) -> None:
        if os.environ.get("POCKETBOX_UI_LOG"):
            sys.stderr.write(f"ui: {format % args}\n")

    def _authorized(self, query: dict) -> bool:
        given = (query.get("token") or [""])[-1]
        if not given:
            for part in (self.headers.get("Cookie") or "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE:
                    given = value
        return bool(given) and hmac.compare_digest(given.encode(), self.token.encode())

    def dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        if self.headers.get("Host") != self.host:
            self.send_text(421, "this page answers only on the address pocketbox ui printed\n")
            return
        if not self._authorized(query):
            self.send_text(403, "a token is needed: open the URL `pocketbox ui` printed\n")
            return
        path = url.path
        self.ui_query = self.query = query
        self._body = None
        try:
            if path in FILES and method in ("GET", "HEAD"):
                return self._static(FILES[path], set_cookie="token" in query)
            if path.startswith("/engine/"):
                rest = urllib.parse.urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
                self.path = path[len("/engine"):] + (f"?{rest}" if rest else "")
                self.feed.publish("request", {"method": method, "path": path[len("/engine"):], "via": "Engine API"})
                return Handler.dispatch(self, method)
            for m, prefix, function in UI_ROUTES:
                if m == method and path.startswith(prefix):
                    return function(self, urllib.parse.unquote(path[len(prefix):]))
        except PocketboxError as e:
            return self._error(status_of(e), str(e))
        except ValueError as e:
            return self._error(400, str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return
        except Exception as e:  # a bug, or the kernel refused a read: said in the page, the server goes on
            return self._error(500, f"{type(e).__name__}: {e}")
        self._error(404, f"page not found: {method} {path}")

    def _static(self, name: str, set_cookie: bool) -> None:
        with open(os.path.join(STATIC, name), "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", TYPES[os.path.splitext(name)[1]])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", f"default-src 'self'; connect-src 'self' ws://{self.host}")
        if set_cookie:
            self.send_header("Set-Cookie", f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


# --- the teaching views ------------------------------------------------------------------------
def _engine():
    from pocketbox.engine.containers import Containers

    return Containers()


@ui_route("GET", "/ui/anatomy/")
def anatomy(h, ref: str) -> None:
    from pocketbox.ui.anatomy import anatomy as take_apart

    engine = _engine()
    h.feed.publish("request", {"method": "GET", "path": f"/ui/anatomy/{ref[:12]}", "via": "the kernel (/proc, cgroups)"})
    h.send_json(200, take_apart(engine, engine.find(ref)))


@ui_route("GET", "/ui/layer-of/")
def layer_of(h, ref: str) -> None:
    from pocketbox.ui.anatomy import layer_of as find_layer

    path = (h.ui_query.get("path") or [""])[-1]
    h.send_json(200, find_layer(_engine().find(ref), path))


@ui_route("GET", "/ui/usage")
def usage(h, _rest: str) -> None:
    """CPU time and memory of every running container, from its cgroup files."""
    engine = _engine()
    out = {}
    for record in engine.all():
        if record["State"]["Status"] in ("running", "paused"):
            u = engine.cgroup(record["Id"]).usage()
            out[record["Id"]] = {"cpu_ns": u["cpu_ns"], "memory": u["memory"], "memory_limit": u["memory_limit"],
                                 "pids": u["pids"]}
    h.send_json(200, out)


@ui_route("GET", "/ui/live")
def live(h, _rest: str) -> None:
    """Server-sent events: the feed, one JSON object per message, until the page goes away."""
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Cache-Control", "no-store")
    h.end_headers()
    h.close_connection = True
    q = h.feed.listen()
    try:
        h.wfile.write(b": live\n\n")
        h.wfile.flush()
        while True:
            try:
                item = q.get(timeout=15)
                h.wfile.write(b"data: " + json.dumps(item).encode() + b"\n\n")
            except queue.Empty:
                h.wfile.write(b": still here\n\n")
            h.wfile.flush()
    except OSError:
        pass
    finally:
        h.feed.leave(q)


@ui_route("GET", "/ui/exec/")
def exec_terminal(h, ref: str) -> None:
    """A shell in the container on a pty, its bytes over a WebSocket both ways."""
    from pocketbox.engine.lifecycle import exec_process
    from pocketbox.ui import websocket

    if (h.headers.get("Upgrade") or "").lower() != "websocket":
        raise ValueError("a WebSocket upgrade is needed here")
    origin = h.headers.get("Origin")
    if origin and urllib.parse.urlsplit(origin).netloc != h.host:
        h.send_text(403, "cross-origin WebSocket refused\n")
        return
    engine = _engine()
    record = engine.find(ref)
    if record["State"]["Status"] != "running":
        raise PocketboxError(f"Container {record['Id']} is not running")
    command = (h.ui_query.get("cmd") or ["sh"])[-1].split()
    websocket.handshake(h)
    h.close_connection = True
    h.feed.publish("request", {"method": "EXEC", "path": f"/containers/{record['Id'][:12]}/exec {' '.join(command)}",
                               "via": "Engine API (exec, on a pty)"})
    conn = h.connection
    send_lock = threading.Lock()

    def send(data: bytes) -> None:
        with send_lock:
            conn.sendall(data)

    def relay(console: int, _child: int) -> None:
        def keys():
            try:
                while True:
                    os.write(console, websocket.read_message(h.rfile, send))
            except (websocket.Closed, OSError):
                pass
        threading.Thread(target=keys, daemon=True).start()
        try:
            while data := os.read(console, 65536):
                send(websocket.frame(websocket.BINARY, data))
        except OSError:  # EIO: the shell is gone
            pass
        finally:
            os.close(console)
    try:
        code = exec_process(engine, record["Id"], command, interactive=True, tty=True, on_console=relay)
        send(websocket.frame(websocket.TEXT, json.dumps({"exit": code}).encode()))
    except PocketboxError as e:
        send(websocket.frame(websocket.TEXT, json.dumps({"error": str(e)}).encode()))
    except OSError:
        return
    try:
        send(websocket.frame(websocket.CLOSE, b""))
    except OSError:
        pass


@ui_route("POST", "/ui/replay")
def replay(h, _rest: str) -> None:
    """Run a container with --explain=json and give its events back in the course's steps."""
    from pocketbox.explain import STEP_OF

    body = h.body()
    image = str(body.get("image") or "")
    command = [str(a) for a in body.get("command") or []]
    if not image or image.startswith("-"):  # (never an option of `run`)
        raise ValueError("give an image to run")
    import subprocess

    h.feed.publish("request", {"method": "RUN", "path": f"run --rm --explain=json {image} {' '.join(command)}",
                               "via": "the CLI's own engine"})
    result = subprocess.run([sys.executable, "-m", "pocketbox", "--explain=json", "run", "--rm", "--network", "none",
                             image, *command], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    steps: list[dict] = []
    for line in result.stderr.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or "kind" not in event:
            continue
        step = STEP_OF.get(event["kind"], event["kind"])
        if not steps or steps[-1]["step"] != step:
            steps.append({"step": step, "events": []})
        steps[-1]["events"].append({k: event[k] for k in ("kind", "what", "call", "man") if k in event})
    errors = [line for line in result.stderr.splitlines() if line.startswith("pocketbox:")]
    h.send_json(200, {"exit": result.returncode, "output": result.stdout[-4000:], "steps": steps,
                      "error": errors[-1] if errors else ""})


# --- serving -----------------------------------------------------------------------------------
class UIServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _follow_events(feed: Feed) -> None:
    """The event log (every CLI, API and supervisor action) into the feed, as it grows."""
    from pocketbox import events

    _, position = events.read()
    for event in events.follow(position):
        feed.publish("event", {"type": event.get("Type"), "action": event.get("Action"),
                               "actor": ((event.get("Actor") or {}).get("Attributes") or {}).get("name")
                               or (event.get("Actor") or {}).get("ID", "")[:12]})


def serve_ui(listen: str = "127.0.0.1:0", announce=print) -> None:
    """Serve the page on `listen` (host:port; port 0 picks a free one) until interrupted."""
    from pocketbox.api import build, containers, images, objects, system  # noqa: F401 (they register routes)
    from pocketbox.api.server import preload_modules, serve_until_interrupted
    from pocketbox.ui import anatomy, websocket  # noqa: F401 (before any fork: see preload_modules)

    preload_modules()
    host, _, port = listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise PocketboxError(f"invalid --listen {listen!r}: give HOST:PORT, such as 127.0.0.1:8080") from None
    if host in ("0.0.0.0", "::"):  # the page checks the Host header against the address it listens on
        raise PocketboxError(f"--listen {listen}: give one address of this machine (127.0.0.1 is the safe one)")
    try:
        server = UIServer((host, number), UIHandler)
    except OSError as e:
        raise PocketboxError(f"cannot listen on {listen}: {e.strerror}") from None
    port = server.server_address[1]
    UIHandler.token = secrets.token_urlsafe(24)
    UIHandler.host = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    threading.Thread(target=_follow_events, args=(UIHandler.feed,), daemon=True).start()
    announce(f"pocketbox ui: http://{UIHandler.host}/?token={UIHandler.token}")
    announce("  anyone with this URL can do what root can on this machine: keep it to yourself")
    serve_until_interrupted(server)

