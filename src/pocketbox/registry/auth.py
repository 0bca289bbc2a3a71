"""Registry authentication: WWW-Authenticate challenges, Bearer tokens, stored credentials.

The Docker Hub flow (docs: distribution spec/auth/token.md): a request answers 401 with
`WWW-Authenticate: Bearer realm=...,service=...,scope=...`; we GET the realm with service and
scope (sending Basic credentials when we have them) and retry with `Bearer <token>`.
Tokens are reused until `expires_in` (minus a little skew) has passed."""
import base64
import json
import re
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from pocketbox.errors import RegistryError
from pocketbox.registry import http
from pocketbox.state import ensure_dir, read_json, state_root, write_json_atomic

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
TOKEN_SKEW = 10
DEFAULT_EXPIRES_IN = 60


def parse_challenge(header: str) -> tuple[str, dict]:
    """`Bearer realm="x",service="y"` -> ("bearer", {"realm": "x", "service": "y"})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _PARAM.finditer(rest)}
    return scheme.lower(), params


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


# --- stored credentials (pocketbox login/logout) ---------------------------------------------

def _auth_file() -> Path:
    return state_root() / "auth.json"


def load_credentials(registry: str) -> tuple[str, str] | None:
    data = read_json(_auth_file(), {}) or {}
    entry = data.get("auths", {}).get(registry)
    if not entry:
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


def store_credentials(registry: str, username: str, password: str) -> Path:
    """Save credentials in the Docker config format, readable by root only (0600 in a 0700 dir)."""
    path = _auth_file()
    ensure_dir(path.parent)
    data = read_json(path, {}) or {}
    data.setdefault("auths", {})[registry] = {"auth": base64.b64encode(f"{username}:{password}".encode()).decode()}
    write_json_atomic(path, data, mode=0o600)
    return path


def remove_credentials(registry: str) -> bool:
    path = _auth_file()
    data = read_json(path, {}) or {}
    if registry not in data.get("auths", {}):
        return False
    del data["auths"][registry]
    write_json_atomic(path, data, mode=0o600)
    return True


# --- tokens -----------------------------------------------------------------------------------

class TokenCache:
    """Bearer tokens by (realm, service, scope), shared by the threads of one pull."""

    def __init__(self, credentials: tuple[str, str] | None = None, on_event=None):
        self.credentials = credentials
        self.on_event = on_event
        self._tokens: dict[tuple, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def cached(self, key: tuple) -> str | None:
        with self._lock:
            hit = self._tokens.get(key)
        if hit and hit[1] > time.time():
            return hit[0]
        return None

    def fetch(self, params: dict, scope: str | None) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError("registry asked for a Bearer token but gave no realm")
        key = (realm, params.get("service"), scope)
        token = self.cached(key)
        if token:
            return token
        query = {}
        if params.get("service"):
            query["service"] = params["service"]
        if scope:
            query["scope"] = scope
        url = realm + ("&" if "?" in realm else "?") + urlencode(query) if query else realm
        auth = basic_header(*self.credentials) if self.credentials else None
        r = http.request("GET", url, auth=auth, on_event=self.on_event)
        body = r.read()
        r.close()
        if r.status in (401, 403):
            raise RegistryError(f"unauthorized: the token service {realm} refused the credentials (status {r.status})")
        if r.status != 200:
            raise RegistryError(f"token service {realm} answered {r.status}")
        try:
            data = json.loads(body)
        except ValueError:
            raise RegistryError(f"token service {realm} did not answer JSON") from None
        token = data.get("token") or data.get("access_token")
        if not token:
            raise RegistryError(f"token service {realm} gave no token")
        expires_in = int(data.get("expires_in") or DEFAULT_EXPIRES_IN)
        # Expiry is counted on our clock from now: the token service's clock may be off.
        with self._lock:
            self._tokens[key] = (token, time.time() + expires_in - TOKEN_SKEW)
        from pocketbox import explain

        explain.emit("registry", f"got a Bearer token for {scope or 'the registry'} from {realm}, "
                     f"{'with' if self.credentials else 'without'} credentials, valid {expires_in} s (reused until then)",
                     f"GET {realm}?service=...&scope=...", "")
        return token

    def invalidate(self, params: dict, scope: str | None) -> None:
        with self._lock:
            self._tokens.pop((params.get("realm"), params.get("service"), scope), None)

