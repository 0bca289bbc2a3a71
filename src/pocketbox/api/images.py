"""/images/*: list, inspect, pull (POST /images/create, a stream of Docker's progress messages),
remove, tag, prune."""
import json
import threading

from pocketbox.api.server import BadRequest, route
from pocketbox.errors import PocketboxError


def _store():
    from pocketbox.image.store import Store

    return Store.open()


def registry_auth(h) -> tuple[str, str] | None:
    """X-Registry-Auth: the credentials the client has for the registry (base64url JSON, as the
    docker CLI and docker-py send them); None when it sent none (`pocketbox login`'s apply)."""
    import base64

    text = h.headers.get("X-Registry-Auth", "").strip()
    if not text:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (ValueError, TypeError):
        raise BadRequest("invalid X-Registry-Auth header") from None
    if not isinstance(data, dict) or not data.get("username") or not data.get("password"):
        return None
    return str(data["username"]), str(data["password"])


@route("POST", "/auth")
def login(h):
    """`docker login`: the daemon only checks the credentials; the client keeps them and sends
    them back with each pull and push (X-Registry-Auth)."""
    from pocketbox.registry.client import check_login, login_domain

    body = h.body()
    if not body.get("username") or not body.get("password"):
        raise BadRequest("username and password are required")
    from pocketbox.errors import RegistryError

    try:
        check_login(login_domain(body.get("serveraddress") or "docker.io"), body["username"], body["password"])
    except RegistryError as e:
        h.send_json(401, {"message": str(e)})
        return
    h.send_json(200, {"Status": "Login Succeeded", "IdentityToken": ""})


@route("GET", "/images/json")
def list_images(h):
    from pocketbox.api.listing import image_summary

    entries = image_summary(_store(), h.flag("all"))
    wanted = h.filters()
    if "dangling" in wanted:
        from pocketbox.engine.images import parents

        dangling, steps = wanted["dangling"][-1] in ("true", "1"), parents(_store().all_images())
        entries = [e for e in entries if (e["RepoTags"] == ["<none>:<none>"] and e["Id"] not in steps) == dangling]
    if "reference" in wanted:
        import fnmatch

        entries = [e for e in entries if any(fnmatch.fnmatchcase(t, v if ":" in v else v + ":*")
                                             for t in e["RepoTags"] for v in wanted["reference"])]
    h.send_json(200, entries)


@route("GET", "/images/search")
def search(h):
    from pocketbox.registry.search import search as query

    term = h.arg("term")
    if not term:
        raise BadRequest("search needs a term")
    results = query(term, h.number("limit", 25) or 25)
    wanted = h.filters()
    if "stars" in wanted:
        results = [r for r in results if int(r.get("star_count") or 0) >= max(int(v) for v in wanted["stars"])]
    if "is-official" in wanted:
        results = [r for r in results if bool(r.get("is_official")) == (wanted["is-official"][-1] in ("true", "1"))]
    h.send_json(200, results)


@route("GET", "/images/{name:path}/json")
def inspect(h, name):
    from pocketbox.engine.images import find_image, inspect_image

    store = _store()
    h.send_json(200, inspect_image(store, find_image(store, name)))


@route("POST", "/images/create")
def pull(h):
    """fromImage (+ tag): Docker's JSON progress lines while it pulls, an error line if it fails."""
    from pocketbox import reference
    from pocketbox.image.pull import pull as do_pull
    from pocketbox.registry.manifest import parse_platform

    image = h.arg("fromImage")
    if not image:
        raise BadRequest("pocketbox pulls images (fromImage); importing (fromSrc) is not served")
    tag = h.arg("tag")
    name = f"{image}@{tag}" if tag and tag.startswith("sha256:") else f"{image}:{tag}" if tag else image
    ref = reference.parse(name)
    platform = parse_platform(h.arg("platform")) if h.arg("platform") else None
    credentials = registry_auth(h)
    send = _json_stream(h)
    send({"status": f"Pulling from {ref.path}", "id": ref.digest or ref.tag})
    try:
        result = do_pull(ref, platform, progress=_progress(send), credentials=credentials)
        send({"status": f"Digest: {result.manifest_digest}"})
        send({"status": f"Status: {'Image is up to date for' if result.up_to_date else 'Downloaded newer image for'} "
                        f"{ref.familiar()}"})
    except PocketboxError as e:
        send({"errorDetail": {"message": str(e)}, "error": str(e)})
    h.end_stream()


def _json_stream(h):
    """Start a chunked JSON-lines answer; returns send(message), safe from the pull's threads."""
    h.start_stream()
    lock = threading.Lock()

    def send(message: dict) -> None:
        with lock:
            h.chunk(json.dumps(message).encode() + b"\r\n")
    return send


def _progress(send):
    """pull()'s progress callback as Docker's JSON messages, one per change of a layer's status."""
    last: dict[str, str] = {}

    def report(layer_id: str, status: str, current=None, total=None) -> None:
        if current is not None:
            send({"status": status, "progressDetail": {"current": current, **({"total": total} if total else {})},
                  "id": layer_id})
        elif last.get(layer_id) != status:
            last[layer_id] = status
            send({"status": status, "progressDetail": {}, "id": layer_id})
    return report


@route("GET", "/images/{name:path}/history")
def history(h, name):
    from pocketbox.engine.imagebuild import history as collect
    from pocketbox.text.format import parse_time

    h.send_json(200, [{"Id": r["Id"], "Created": int(parse_time(r["Created"]) or 0) if r["Created"] else 0,
                       "CreatedBy": r["CreatedBy"], "Tags": r.get("Tags"), "Size": r["Size"], "Comment": r["Comment"]}
                      for r in collect(_store(), name)])


@route("POST", "/images/{name:path}/push")
def push(h, name):
    """Docker's push progress stream (credentials: the client's X-Registry-Auth, else `pocketbox login`'s)."""
    from pocketbox import reference
    from pocketbox.engine.images import find_image, register_image
    from pocketbox.image.push import Pusher

    store = _store()
    ref = reference.parse(f"{name}:{h.arg('tag')}" if h.arg("tag") else name)
    record = find_image(store, ref.name)
    credentials = registry_auth(h)
    send = _json_stream(h)
    send({"status": f"The push refers to repository [{ref.repository}]"})
    try:
        digest, size = Pusher(store, ref, _progress(send), credentials=credentials).push(record)
        register_image(store, record, ref, digest)
        send({"status": f"{ref.tag}: digest: {digest} size: {size}"})
        send({"progressDetail": {}, "aux": {"Tag": ref.tag, "Digest": digest, "Size": size}})
    except PocketboxError as e:
        send({"errorDetail": {"message": str(e)}, "error": str(e)})
    h.end_stream()


@route("GET", "/images/get")
def save_many(h):
    _save(h, h.query.get("names") or [])


@route("GET", "/images/{name:path}/get")
def save(h, name):
    _save(h, [name])


def _save(h, names: list[str]) -> None:
    """`docker save`: the archive pocketbox's `save` writes, streamed."""
    from pocketbox.engine.images import images_with_names
    from pocketbox.image.archive import save as write_archive

    records = images_with_names(_store(), names)  # (NotFound before any byte is sent)
    h.start_stream("application/x-tar")

    class Out:
        def write(self, data):
            h.chunk(bytes(data))
            return len(data)

        def flush(self):
            pass
    write_archive(records, Out())
    h.end_stream()


@route("POST", "/images/load")
def load(h):
    """`docker load`: a `docker save` archive or an OCI layout tar, in the body."""
    import tempfile

    from pocketbox.image.archive import load as read_archive

    with tempfile.TemporaryFile() as tmp:  # (tar needs to seek)
        for data in h.body_chunks():
            tmp.write(data)
        tmp.seek(0)
        loaded = read_archive(tmp)
    lines = [{"stream": f"Loaded image: {name}\n" if name else f"Loaded image ID: {image_id}\n"}
             for name, image_id in loaded]
    h.start_stream()
    for line in lines:
        h.chunk(json.dumps(line).encode() + b"\r\n")
    h.end_stream()


@route("DELETE", "/images/{name:path}")
def remove(h, name):
    from pocketbox.engine.images import remove_image

    actions = remove_image(_store(), name, force=h.flag("force"))
    h.send_json(200, [{"Untagged" if kind == "Untagged" else "Deleted": what} for kind, what in actions])


@route("POST", "/images/{name:path}/tag")
def tag(h, name):
    from pocketbox.engine.imagebuild import tag as tag_image

    repo = h.arg("repo")
    if not repo:
        raise BadRequest("repository name must have at least one component")
    tag_image(_store(), name, f"{repo}:{h.arg('tag') or 'latest'}")
    h.send_empty(201)


@route("POST", "/images/prune")
def prune(h):
    from pocketbox.engine.images import prune_images

    dangling = h.filters().get("dangling", ["true"])[-1] in ("true", "1")
    removed, freed = prune_images(_store(), all_images=not dangling)
    h.send_json(200, {"ImagesDeleted": [{"Untagged" if k == "Untagged" else "Deleted": w} for k, w in removed] or None,
                      "SpaceReclaimed": freed})
