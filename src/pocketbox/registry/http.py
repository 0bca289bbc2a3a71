"""The small HTTP layer the registry client needs, on http.client.

It exists (instead of urllib or requests) so that three rules are visible in one place:
redirects are followed by hand and the Authorization header never crosses to another host;
429 and 5xx answers are retried with backoff (honouring Retry-After); bodies are streamed."""
import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from pocketbox.errors import RegistryError

RETRY_STATUSES = {429, 500, 502, 503, 504}
MAX_REDIRECTS = 5
TIMEOUT = 60
USER_AGENT = "pocketbox/0.1"


@dataclass
class Response:
    status: int
    headers: dict  # lower-case names
    url: str
    body: http.client.HTTPResponse = field(repr=False)

    def read(self, n: int = -1) -> bytes:
        return self.body.read() if n is None or n < 0 else self.body.read(n)

    def close(self) -> None:
        self.body.close()


def _origin(url: str) -> tuple[str, str]:
    u = urlsplit(url)
    return u.scheme, u.netloc


def _connect(url: str):
    u = urlsplit(url)
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.netloc, timeout=TIMEOUT, context=ssl.create_default_context())
    if u.scheme == "http":
        return http.client.HTTPConnection(u.netloc, timeout=TIMEOUT)
    raise RegistryError(f"unsupported URL scheme in {url!r}")


def _once(method: str, url: str, headers: dict, body: bytes | None = None) -> Response:
    conn = _connect(url)
    u = urlsplit(url)
    path = u.path or "/"
    if u.query:
        path += "?" + u.query
    conn.request(method, path, body=body, headers={"User-Agent": USER_AGENT, **headers})
    r = conn.getresponse()
    return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, url, r)


def request(method: str, url: str, headers: dict | None = None, auth: str | None = None,
            retries: int = 4, on_event=None, body: bytes | None = None) -> Response:
    """One request: follow redirects (Authorization only to the first origin), retry 429/5xx.

    `on_event(method, url, status)` is told about every exchange (for --explain and progress)."""
    headers = dict(headers or {})
    first_origin = _origin(url)
    delay = 0.5
    for attempt in range(retries + 1):
        target = url
        for _ in range(MAX_REDIRECTS + 1):
            h = dict(headers)
            if auth and _origin(target) == first_origin:
                h["Authorization"] = auth
            try:
                r = _once(method, target, h, body)
            except (ConnectionResetError, ConnectionAbortedError, socket.timeout, http.client.HTTPException):
                if attempt == retries:
                    raise
                r = None
                break
            if on_event:
                on_event(method, target, r.status)
            if r.status in (301, 302, 303, 307, 308) and "location" in r.headers:
                r.close()
                target = urljoin(target, r.headers["location"])
                if r.status == 303:
                    method = "GET"
                continue
            break
        else:
            raise RegistryError(f"too many redirects from {url}")
        if r is not None and (r.status not in RETRY_STATUSES or attempt == retries):
            return r
        wait = delay
        if r is not None:
            retry_after = r.headers.get("retry-after", "")
            if retry_after.isdigit():
                wait = min(int(retry_after), 30)
            r.close()
        time.sleep(wait)
        delay *= 2
    raise AssertionError("unreachable")
