"""/volumes/* and /networks/*: the Engine API's volume and network endpoints."""
from pocketbox.api.server import BadRequest, route
from pocketbox.errors import Conflict


def _volumes():
    from pocketbox.engine.volumes import Volumes

    return Volumes()


def _networks():
    from pocketbox.network.networks import Networks

    return Networks()


# --- volumes -----------------------------------------------------------------------------------------
@route("GET", "/volumes")
def list_volumes(h):
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.filters import label_matches

    volumes = _volumes()
    entries = volumes.all()
    for key, values in h.filters().items():
        if key == "name":
            entries = [v for v in entries if any(x in v["Name"] for x in values)]
        elif key == "label":
            entries = [v for v in entries if label_matches(v.get("Labels") or {}, values)]
        elif key == "dangling":
            engine = Containers()
            want = values[-1] in ("true", "1")
            entries = [v for v in entries if (not volumes.users(v["Name"], engine)) == want]
        elif key != "driver":
            raise BadRequest(f"invalid filter '{key}'")
    h.send_json(200, {"Volumes": [_volume(v) for v in entries], "Warnings": []})


def _volume(v: dict) -> dict:
    return {k: v.get(k) for k in ("Name", "Driver", "Mountpoint", "Labels", "Scope", "Options", "CreatedAt")}


@route("POST", "/volumes/create")
def create_volume(h):
    body = h.body()
    if (body.get("Driver") or "local") != "local":
        raise BadRequest(f"plugin \"{body['Driver']}\" not found (pocketbox has the local driver)")
    h.send_json(201, _volume(_volumes().create(body.get("Name") or None, body.get("Labels") or {})))


@route("GET", "/volumes/{name}")
def inspect_volume(h, name):
    h.send_json(200, _volume(_volumes().get(name)))


@route("DELETE", "/volumes/{name}")
def remove_volume(h, name):
    from pocketbox.engine.containers import Containers

    _volumes().remove(name, Containers(), force=h.flag("force"))
    h.send_empty(204)


@route("POST", "/volumes/prune")
def prune_volumes(h):
    from pocketbox.engine.containers import Containers

    every = h.filters().get("all", ["false"])[-1] in ("true", "1")
    removed, freed = _volumes().prune(Containers(), all_volumes=every)
    h.send_json(200, {"VolumesDeleted": removed or None, "SpaceReclaimed": freed})


# --- networks ----------------------------------------------------------------------------------------
def _network(net: dict) -> dict:
    return _networks().view(net)


@route("GET", "/networks")
def list_networks(h):
    from pocketbox.engine.filters import label_matches

    nets = _networks().all()
    for key, values in h.filters().items():
        if key == "label":
            nets = [n for n in nets if label_matches(n.get("Labels") or {}, values)]
        elif key in ("name", "id", "driver"):
            field = {"name": "Name", "id": "Id", "driver": "Driver"}[key]
            nets = [n for n in nets if any(v in n[field] for v in values)]
        elif key not in ("type", "scope"):
            raise BadRequest(f"invalid filter '{key}'")
    h.send_json(200, [_network(n) for n in nets])


@route("GET", "/networks/{ref}")
def inspect_network(h, ref):
    h.send_json(200, _network(_networks().find(ref)))


@route("POST", "/networks/create")
def create_network(h):
    body = h.body()
    name = body.get("Name")
    if not name:
        raise BadRequest("network name is required")
    if (body.get("Driver") or "bridge") != "bridge":
        raise BadRequest(f"plugin \"{body['Driver']}\" not found (pocketbox has the bridge driver)")
    config = ((body.get("IPAM") or {}).get("Config") or [{}])[0] or {}
    try:
        net = _networks().create(name, config.get("Subnet"), config.get("Gateway"), bool(body.get("Internal")),
                                 body.get("Labels") or {})
    except Conflict:
        if body.get("CheckDuplicate", True) is False:
            net = _networks().find(name)
        else:
            raise
    h.send_json(201, {"Id": net["Id"], "Warning": ""})


@route("DELETE", "/networks/{ref}")
def remove_network(h, ref):
    _networks().remove(ref)
    h.send_empty(204)


@route("POST", "/networks/{ref}/connect")
def connect(h, ref):
    from pocketbox.engine.networking import connect_network

    body = h.body()
    config = body.get("EndpointConfig") or {}
    connect_network(body.get("Container") or "", ref, list(config.get("Aliases") or []),
                    (config.get("IPAMConfig") or {}).get("IPv4Address"))
    h.send_empty(200)


@route("POST", "/networks/{ref}/disconnect")
def disconnect(h, ref):
    from pocketbox.engine.networking import disconnect_network

    body = h.body()
    disconnect_network(body.get("Container") or "", ref, bool(body.get("Force")))
    h.send_empty(200)


@route("POST", "/networks/prune")
def prune_networks(h):
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.filters import networks_of

    in_use = {n for r in Containers().all() for n in networks_of(r)}
    h.send_json(200, {"NetworksDeleted": _networks().prune(in_use) or None})
