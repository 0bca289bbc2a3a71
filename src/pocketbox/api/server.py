"""The Docker Engine API, served on a unix socket: what makes the real `docker` CLI, docker-py and
compose drive pocketbox (`pocketbox system service`).

The course draws Docker as daemon and client: the `docker` command only speaks HTTP to the engine
over /var/run/docker.sock. This is that engine's side, on the same library the `pocketbox` CLI
calls (one state root: both see the same containers, images, volumes and networks), and it is
optional: nothing else of pocketbox needs it running.

HTTP is the standard library's: one thread per connection (clients send parallel requests), every
route also under /v1.NN/, an Api-Version header on every answer, errors as {"message": ...} with
Docker's status codes. `attach` and `exec start` take over the connection (101 UPGRADED, then raw
bytes: Docker's "hijack"). The socket is root's: a peer that is neither root nor in the
`pocketbox` group is refused (SO_PEERCRED), since driving containers is root-equivalent."""
import http.server
import json
import os
import re
import socket
import socketserver
import struct
import sys
import urllib.parse

from pocketbox.errors import Conflict, NotFound, PocketboxError

API_VERSION = "1.41"
MIN_API_VERSION = "1.24"
DEFAULT_SOCKET = "/run/pocketbox/pocketbox.sock"
GROUP = "pocketbox"
VERSIONED = re.compile(r"^/v1\.\d+(/.*)$")
MAX_JSON_BODY = 4 << 20  # a create body is a few kB; a bigger one is refused, not read
ROUTES: list[tuple[str, re.Pattern, object]] = []


def route(method: str, pattern: str):
    """Register a handler for METHOD and a path pattern: {name} matches one path segment, {name:path}
    several (an image name has slashes)."""
    regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex) + "$")

    def register(function):
        ROUTES.append((method, regex, function))
        return function
    return register


class BadRequest(PocketboxError):
    pass


def status_of(error: Exception) -> int:
    from pocketbox.engine.options import InvalidOption

    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, (BadRequest, InvalidOption)):
        return 400
    return 500


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pocketbox"
    hijacked = False

    def address_string(self) -> str:  # (a unix socket's peer has no address)
        return "unix"

    def log_message(self, format: str, *args) -> None:
        if os.environ.get("POCKETBOX_API_LOG"):
            sys.stderr.write(f"api: {format % args}\n")

    # --- dispatch ---------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_HEAD(self):
        self.dispatch("HEAD")

    def dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        versioned = VERSIONED.match(path)
        if versioned:
            path = versioned.group(1)
        self.query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        self._body = None
        for m, regex, function in ROUTES:
            match = regex.match(path)
            if match and m == method:
                try:
                    function(self, **match.groupdict())
                except PocketboxError as e:
                    self._error(status_of(e), str(e))
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True
                except Exception as e:  # a bug: say so in Docker's error shape, keep serving
                    self._error(500, f"{type(e).__name__}: {e}")
                self._drain()
                return
        self._error(404, f"page not found: {method} {path}")
        self._drain()

    def _drain(self) -> None:
        """Read an unread request body, so the connection stays usable."""
        if self.hijacked or self._body is not None:
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if 0 < length <= MAX_JSON_BODY:
            self.rfile.read(length)
        elif length or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # (not worth reading: the connection ends instead)

    def _error(self, status: int, message: str) -> None:
        if self.hijacked:
            return
        self.send_json(status, {"message": message})

    # --- request helpers --------------------------------------------------------------------
    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str, default: bool = False) -> bool:
        """Docker's booleans, and Python clients' ("True", "False")."""
        value = self.arg(name)
        if value is None:
            return default
        return value.lower() in ("1", "true", "yes")

    def number(self, name: str, default: int | None = None) -> int | None:
        value = self.arg(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except ValueError:
            raise BadRequest(f"invalid value for {name}: {value!r}") from None

    def body(self) -> dict:
        if self._body is None:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = self._read_chunked(MAX_JSON_BODY)
            else:
                length = self._length()
                if length > MAX_JSON_BODY:
                    self.close_connection = True
                    self._body = {}
                    raise BadRequest(f"request body too large ({length} bytes)")
                data = self.rfile.read(length)
            try:
                self._body = json.loads(data) if data.strip() else {}
            except ValueError:
                raise BadRequest("the request body is not valid JSON") from None
            if not isinstance(self._body, dict):
                raise BadRequest("the request body must be a JSON object")
        return self._body

    def _length(self) -> int:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            raise BadRequest("invalid Content-Length")
        return length

    def body_chunks(self):
        """The request body as it arrives (Content-Length or chunked), for tar uploads."""
        self._body = {}
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                try:
                    size = int(self.rfile.readline(64).split(b";")[0].strip() or b"0", 16)
                except ValueError:
                    self.close_connection = True
                    raise BadRequest("malformed chunked body") from None
                if size == 0:
                    self.rfile.readline(64)
                    return
                while size:
                    data = self.rfile.read(min(size, 1 << 20))
                    if not data:
                        return
                    size -= len(data)
                    yield data
                self.rfile.readline(64)
        else:
            left = self._length()
            while left:
                data = self.rfile.read(min(left, 1 << 20))
                if not data:
                    return
                left -= len(data)
                yield data

    def _read_chunked(self, limit: int) -> bytes:
        out = b""
        for data in self.body_chunks():
            out += data
            if len(out) > limit:
                self.close_connection = True
                raise BadRequest("request body too large")
        self._body = None
        return out

    def filters(self) -> dict[str, list[str]]:
        """`filters` as Go clients send it ({"k": {"v": true}}) or Python ones ({"k": ["v"]})."""
        text = self.arg("filters")
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            raise BadRequest(f"invalid filters: {text}") from None
        out = {}
        for key, values in (data or {}).items():
            out[key] = [v for v, on in values.items() if on] if isinstance(values, dict) else list(values)
        return out

    # --- responses --------------------------------------------------------------------------
    def _common_headers(self) -> None:
        self.send_header("Api-Version", API_VERSION)
        self.send_header("Docker-Experimental", "false")
        self.send_header("Ostype", "linux")

    def send_json(self, status: int, obj) -> None:
        data = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_empty(self, status: int = 204, headers: dict | None = None) -> None:
        self.send_response(status)
        self._common_headers()
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", "0")
        self.end_headers()

    def send_text(self, status: int, text: str, content_type: str = "text/plain; charset=utf-8",
                  headers: dict | None = None) -> None:
        data = text.encode()
        self.send_response(status)
        self._common_headers()
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def start_stream(self, content_type: str = "application/json") -> None:
        """A chunked 200 whose headers go out now (wait, logs, pull, events, stats)."""
        self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data: bytes) -> None:
        if data:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def hijack(self, multiplexed: bool) -> socket.socket:
        """Docker's connection takeover: 101 UPGRADED, then raw bytes both ways. Returns the socket;
        what the client sent after its request is still in self.rfile's buffer (read it first)."""
        self.body() if self.headers.get("Content-Length") else None
        self.hijacked = True
        self.close_connection = True
        kind = "multiplexed-stream" if multiplexed else "raw-stream"
        upgrade = "Upgrade" in self.headers.get("Connection", "") or self.headers.get("Upgrade")
        if upgrade:
            self.send_response(101, "UPGRADED")
            self.send_header("Connection", "Upgrade")
            self.send_header("Upgrade", "tcp")
        else:
            self.send_response(200)
        self._common_headers()
        self.send_header("Content-Type", f"application/vnd.docker.{kind}")
        self.end_headers()
        self.wfile.flush()
        return self.connection


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def verify_request(self, request, client_address) -> bool:
        """Root, or a member of the `pocketbox` group: anyone else gets a 403 and nothing more."""
        pid, uid, gid = struct.unpack("3i", request.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                               struct.calcsize("3i")))
        if uid == 0 or _in_group(pid, gid):
            return True
        body = json.dumps({"message": f"permission denied: uid {uid} is neither root nor in the '{GROUP}' group "
                                      f"(the pocketbox socket is root-equivalent)"}).encode()
        try:  # read the request first: an answer sent before it would be lost to a reset
            request.settimeout(2)
            request.recv(65536)
            request.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\n"
                            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            request.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        return False


def _in_group(pid: int, gid: int) -> bool:
    import grp

    try:
        group = grp.getgrnam(GROUP).gr_gid
    except KeyError:
        return False
    if gid == group:
        return True
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("Groups:"):
                    return str(group) in line.split()[1:]
    except OSError:
        pass
    return False


def preload_modules() -> None:
    """Import now every module a request may need. This server forks (a container's supervisor,
    an exec, a build) while other threads serve requests. A fork taken while another thread is
    in the middle of importing a module hands the child that module's import lock, held by a
    thread the child does not have: the child's first import of that module would wait forever.
    Modules already in sys.modules are never locked again."""
    import pkgutil

    import pocketbox

    for module in pkgutil.walk_packages(pocketbox.__path__, "pocketbox."):
        if module.name.split(".")[1] not in ("__main__", "cli", "ui"):
            __import__(module.name)


def serve(path: str = DEFAULT_SOCKET) -> None:
    """Listen on `path` (0660, root and the pocketbox group) until interrupted; or on the socket
    systemd passes (LISTEN_FDS: socket activation)."""
    from pocketbox.api import build, containers, images, objects, system  # noqa: F401 (they register routes)

    preload_modules()

    if os.environ.get("LISTEN_FDS") == "1" and os.environ.get("LISTEN_PID") == str(os.getpid()):
        server = Server(path, Handler, bind_and_activate=False)
        server.socket = socket.socket(fileno=3)
    else:
        os.makedirs(os.path.dirname(path) or ".", mode=0o755, exist_ok=True)
        if os.path.exists(path):
            probe = socket.socket(socket.AF_UNIX)
            try:
                probe.connect(path)
                raise PocketboxError(f"{path} is in use: another pocketbox service is running")
            except ConnectionRefusedError:
                os.unlink(path)  # a stale socket of a service that was killed
            finally:
                probe.close()
        old = os.umask(0o117)
        try:
            server = Server(path, Handler)
        finally:
            os.umask(old)
        _give_to_group(path)
    print(f"pocketbox: serving the Docker Engine API {API_VERSION} on unix://{path}", file=sys.stderr, flush=True)
    try:
        serve_until_interrupted(server)
    finally:
        if not os.environ.get("LISTEN_FDS"):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def serve_until_interrupted(server) -> None:
    """serve_forever until Ctrl-C (or SIGINT), then close the listening socket."""
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def _give_to_group(path: str) -> None:
    import grp

    try:
        os.chown(path, 0, grp.getgrnam(GROUP).gr_gid)
    except KeyError:
        pass
    os.chmod(path, 0o660)
