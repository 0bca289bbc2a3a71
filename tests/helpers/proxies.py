"""Small HTTP servers on 127.0.0.1 that stand between pocketbox and the test registry:
a proxy that can throttle or cut blob downloads, a CDN that refuses Authorization headers,
and a server that answers fixed responses (for schema1 and error statuses)."""
import http.client
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _Server:
    def _serve(self, handler_cls):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Proxy(_Server):
    """Forwards to `upstream`; blob bodies can be slowed (`delay` per 64 KiB) or cut after
    `cut_after` bytes for the first `cuts` transfers. Counts requests by path."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.delay = 0.0
        self.cut_after: int | None = None
        self.cuts = 0
        self.blob_bytes_sent = 0
        self.paths: list[str] = []
        self.requests: list[tuple[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_HEAD(self):
                self._forward("HEAD")

            def do_GET(self):
                self._forward("GET")

            def do_POST(self):
                self._forward("POST")

            def do_PUT(self):
                self._forward("PUT")

            def do_PATCH(self):
                self._forward("PATCH")

            def _forward(self, method):
                proxy.paths.append(self.path)
                proxy.requests.append((method, self.path))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) \
                    if method in ("POST", "PUT", "PATCH") else None
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(method, self.path, body=body, headers=headers)
                r = conn.getresponse()
                self.send_response(r.status)
                for k, v in r.getheaders():
                    if k.lower() == "location" and v.startswith(f"http://{proxy.upstream}"):
                        v = v.replace(proxy.upstream, proxy.host)  # keep uploads going through us
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                self.send_header("Connection", "close")
                self.end_headers()
                is_blob = "/blobs/" in self.path and method == "GET"
                sent = 0
                cut = proxy.cut_after if (is_blob and proxy.cuts > 0) else None
                if cut is not None:
                    proxy.cuts -= 1
                while chunk := r.read(65536):
                    if cut is not None and sent + len(chunk) > cut:
                        self.wfile.write(chunk[: cut - sent])
                        self.wfile.flush()
                        break
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    if is_blob:
                        proxy.blob_bytes_sent += len(chunk)
                        if proxy.delay:
                            self.wfile.flush()
                            time.sleep(proxy.delay)
                self.close_connection = True
                conn.close()

        self._serve(Handler)


class Cdn(_Server):
    """Serves the registry's storage files, as a blob CDN behind `redirect` middleware would.
    Like S3 presigned URLs, it answers 400 to a request that carries an Authorization header."""

    def __init__(self, storage_root: Path):
        self.storage_root = Path(storage_root)
        self.requests: list[dict] = []
        cdn = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                cdn.requests.append({"path": self.path, "authorization": self.headers.get("Authorization")})
                if self.headers.get("Authorization"):
                    self.send_response(400)
                    self.end_headers()
                    self.wfile.write(b"Only one auth mechanism allowed")
                    return
                path = (cdn.storage_root / self.path.split("?")[0].lstrip("/")).resolve()
                if not str(path).startswith(str(cdn.storage_root.resolve())) or not path.is_file():
                    self.send_response(404)
                    self.end_headers()
                    return
                data = path.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._serve(Handler)


class Canned(_Server):
    """Answers `routes[path]`: a (status, headers, body) tuple, or a list of them served in turn
    (the last one repeats); 404 for other paths."""

    def __init__(self, routes: dict):
        self.routes = routes
        self.hits: list[str] = []
        canned = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                canned.hits.append(self.path)
                answer = canned.routes.get(self.path, (404, {}, b'{"errors":[{"code":"NOT_FOUND"}]}'))
                if isinstance(answer, list):
                    answer = answer.pop(0) if len(answer) > 1 else answer[0]
                status, headers, body = answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._serve(Handler)
