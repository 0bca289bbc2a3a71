"""One registry, as the pull code sees it: endpoints, auth retries, manifests and blobs.

Endpoint rules (Docker's): docker.io is served by registry-1.docker.io, or by the mirror in
$POCKETBOX_REGISTRY_MIRROR; HTTPS everywhere, plain HTTP only for loopback hosts and the
host:port entries of $POCKETBOX_INSECURE_REGISTRIES (tried after HTTPS fails, as Docker does)."""
import hashlib
import ipaddress
import os
import ssl

from pocketbox import explain
from pocketbox.errors import DigestMismatch, NotFound, RegistryError
from pocketbox.reference import DEFAULT_DOMAIN, SHA256_DIGEST, Reference
from pocketbox.registry import auth, http
from pocketbox.registry.manifest import ACCEPT, parse_manifest

DOCKER_HUB_API = "registry-1.docker.io"
MAX_MANIFEST_BYTES = 4 << 20


def _explain_http(method: str, url: str, status: int) -> None:
    explain.emit("registry", f"{method} {url} answered {status}", f"HTTP/1.1 {method}", "")


def _is_loopback(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 or host.startswith("[") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def insecure_allowed(host: str) -> bool:
    listed = {h.strip() for h in os.environ.get("POCKETBOX_INSECURE_REGISTRIES", "").split(",") if h.strip()}
    return host in listed or _is_loopback(host)


class Registry:
    """Talks to the registry that serves `domain`, for repositories under it."""

    def __init__(self, domain: str, on_event=None, credentials: tuple[str, str] | None = None):
        """`credentials`: (user, password) a client sent (the Engine API's X-Registry-Auth);
        without them, those `pocketbox login` stored for the domain."""
        self.domain = domain
        self.on_event = on_event or _explain_http
        mirror = os.environ.get("POCKETBOX_REGISTRY_MIRROR", "").rstrip("/")
        if domain == DEFAULT_DOMAIN and mirror:
            if "://" not in mirror:
                mirror = "https://" + mirror
            scheme, _, host = mirror.partition("://")
            self.host = host
            self.schemes = ["https", "http"] if scheme == "http" else ["https"]
            if scheme == "http" and not insecure_allowed(host):
                self.schemes = ["http"]  # the user asked for this mirror over http explicitly
        else:
            self.host = DOCKER_HUB_API if domain == DEFAULT_DOMAIN else domain
            self.schemes = ["https", "http"] if insecure_allowed(self.host) else ["https"]
        self.scheme = None  # chosen at first contact
        self.tokens = auth.TokenCache(credentials or auth.load_credentials(domain), on_event)
        self._challenge: tuple[str, dict] | None = None

    # --- low level ----------------------------------------------------------------------------
    def _url(self, scheme: str, path: str) -> str:
        return f"{scheme}://{self.host}{path}"

    def _send(self, method: str, path: str, headers: dict, auth_header: str | None, body: bytes | None = None) -> http.Response:
        url = path if "://" in path else None
        if self.scheme:
            return http.request(method, url or self._url(self.scheme, path), headers, auth_header,
                                on_event=self.on_event, body=body)
        errors = []
        for scheme in self.schemes:
            try:
                r = http.request(method, url or self._url(scheme, path), headers, auth_header, on_event=self.on_event,
                                 body=body)
            except (ssl.SSLError, ConnectionRefusedError, OSError) as e:
                errors.append(f"{scheme}: {e}")
                continue
            self.scheme = scheme
            return r
        raise RegistryError(f"cannot reach registry {self.host}: {'; '.join(errors)}")

    def _auth_for(self, scope: str | None) -> str | None:
        if not self._challenge:
            return None
        kind, params = self._challenge
        if kind == "bearer":
            return "Bearer " + self.tokens.fetch(params, scope)
        if kind == "basic" and self.tokens.credentials:
            return auth.basic_header(*self.tokens.credentials)
        return None

    def request(self, method: str, path: str, headers: dict | None = None, scope: str | None = None,
                body: bytes | None = None) -> http.Response:
        """Send with the right credentials; on 401 learn the challenge and try once more.

        `path` may also be a full URL on this registry (an upload's Location)."""
        headers = headers or {}
        r = self._send(method, path, headers, self._auth_for(scope), body)
        if r.status != 401:
            return r
        challenge = r.headers.get("www-authenticate", "")
        r.read()
        r.close()
        if not challenge:
            raise RegistryError(f"registry {self.host} answered 401 without a WWW-Authenticate challenge")
        kind, params = auth.parse_challenge(challenge)
        explain.emit("registry", f"the registry wants {kind.capitalize()} auth: {challenge}", "WWW-Authenticate", "")
        if kind not in ("bearer", "basic"):
            raise RegistryError(f"registry {self.host} asks for unsupported auth scheme {kind!r}")
        if kind == "bearer":
            self.tokens.invalidate(params, scope)
            scope = params.get("scope") or scope
        elif not self.tokens.credentials:
            raise RegistryError(f"registry {self.domain} requires authentication: run `pocketbox login {self.domain}` first")
        self._challenge = (kind, params)
        r = self._send(method, path, headers, self._auth_for(scope), body)
        if r.status == 401:
            r.close()
            raise RegistryError(f"unauthorized: registry {self.domain} refused access (status 401); "
                                f"check `pocketbox login {self.domain}`")
        return r

    def ping(self) -> http.Response:
        r = self._send("GET", "/v2/", {}, None)
        r.read()
        r.close()
        return r

    # --- manifests and blobs ----------------------------------------------------------------
    def get_manifest(self, ref: Reference, reference: str) -> tuple[bytes, str, dict]:
        """GET a manifest by tag or digest; returns (raw body, its digest, parsed)."""
        scope = f"repository:{ref.path}:pull"
        r = self.request("GET", f"/v2/{ref.path}/manifests/{reference}", {"Accept": ACCEPT}, scope)
        try:
            if r.status == 404:
                raise NotFound(f"manifest for {ref.familiar_repository}:{reference} not found: manifest unknown"
                               if not reference.startswith("sha256:") else
                               f"manifest {reference} for {ref.familiar_repository} not found")
            if r.status in (401, 403):
                raise RegistryError(f"pull access denied for {ref.familiar_repository}, repository does not exist "
                                    f"or may require 'pocketbox login'")
            if r.status != 200:
                raise RegistryError(f"registry {self.domain} answered {r.status} for manifest {ref.familiar_repository}:{reference}")
            body = r.read(MAX_MANIFEST_BYTES + 1)
            if len(body) > MAX_MANIFEST_BYTES:
                raise RegistryError("manifest is larger than 4 MiB; refusing it")
        finally:
            r.close()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        expected = reference if reference.startswith("sha256:") else r.headers.get("docker-content-digest")
        if expected and expected.startswith("sha256:") and expected != digest:
            raise DigestMismatch(f"manifest digest mismatch: expected {expected}, got {digest}")
        return body, digest, parse_manifest(body, r.headers.get("content-type", ""))

    def open_blob(self, ref: Reference, digest: str) -> http.Response:
        """A streaming response for blob `digest` (redirects to a CDN followed without credentials)."""
        if not SHA256_DIGEST.match(digest):
            raise RegistryError(f"refusing blob with invalid digest {digest!r}")
        r = self.request("GET", f"/v2/{ref.path}/blobs/{digest}", {}, f"repository:{ref.path}:pull")
        if r.status == 200:
            return r
        r.close()
        if r.status == 404:
            raise NotFound(f"blob {digest} of {ref.familiar_repository} not found in the registry")
        raise RegistryError(f"registry {self.domain} answered {r.status} for blob {digest}")


def check_login(domain: str, username: str, password: str) -> None:
    """Verify credentials the way `docker login` does: ping /v2/, answer its challenge with them."""
    reg = Registry(domain)
    reg.tokens.credentials = (username, password)
    r = reg.ping()
    if r.status == 200:
        return
    if r.status != 401:
        raise RegistryError(f"login to {domain} failed: /v2/ answered {r.status}")
    kind, params = auth.parse_challenge(r.headers.get("www-authenticate", ""))
    if kind == "bearer":
        reg.tokens.fetch(params, None)
        return
    if kind == "basic":
        r = reg._send("GET", "/v2/", {}, auth.basic_header(username, password))
        r.read()
        r.close()
        if r.status == 200:
            return
        raise RegistryError(f"login to {domain} failed: unauthorized: incorrect username or password")
    raise RegistryError(f"login to {domain} failed: unsupported auth scheme {kind!r}")


def login_domain(server: str) -> str:
    """The registry a `login` names: https://index.docker.io/v1/ and friends are docker.io."""
    server = server.split("://", 1)[-1].rstrip("/").split("/", 1)[0]
    return "docker.io" if server in ("docker.io", "index.docker.io", "registry-1.docker.io") else server
