"""`search`: the registry index's search API (Docker Hub's /v1/search), as Docker's CLI uses it.

TERM searches Docker Hub (or the mirror $POCKETBOX_REGISTRY_MIRROR names); REGISTRY/TERM searches
that registry's own /v1/search. The same HTTP layer and scheme rules as pulls (registry/http.py)."""
import json
import os
from urllib.parse import quote

from pocketbox.errors import PocketboxError, RegistryError
from pocketbox.registry import http

INDEX = "index.docker.io"


def _split(term: str) -> tuple[str, str]:
    """(host, query): a first component with a dot, a colon or localhost names a registry."""
    first, sep, rest = term.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    mirror = os.environ.get("POCKETBOX_REGISTRY_MIRROR", "").rstrip("/")
    return (mirror.split("://", 1)[-1] if mirror else INDEX), term


def search(term: str, limit: int = 25) -> list[dict]:
    """The index's results: name, description, star_count, is_official, is_automated."""
    from pocketbox.registry.client import insecure_allowed

    limit = limit or 25  # (0: the default, as Docker's daemon reads it)
    if not 1 <= limit <= 100:
        raise PocketboxError(f"limit {limit} is outside the range of [1, 100]")
    host, query = _split(term)
    if not query:
        raise PocketboxError("search needs a term")
    path = f"/v1/search?q={quote(query)}&n={limit}"
    errors = []
    for scheme in ["https", "http"] if insecure_allowed(host) else ["https"]:
        try:
            r = http.request("GET", f"{scheme}://{host}{path}", {"Accept": "application/json"})
        except OSError as e:
            errors.append(f"{scheme}: {e}")
            continue
        body = r.read(4 << 20)
        r.close()
        if r.status != 200:
            raise RegistryError(f"Unexpected status code {r.status} from {host}")
        try:
            results = json.loads(body)["results"]
        except (ValueError, KeyError, TypeError):
            raise RegistryError(f"{host} did not answer with search results") from None
        return [x for x in results if isinstance(x, dict)][:limit]
    raise RegistryError(f"cannot reach {host}: {'; '.join(errors)}")
