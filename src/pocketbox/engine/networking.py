"""`network connect` and `network disconnect`: a container on more networks than the one it was
made with. The record keeps each extra network in NetworkingConfig.EndpointsConfig (Docker's
create-time field), so every later start joins it again; a running container gets the new
interface (eth1, eth2, ...) at once (network/endpoint.py)."""
from pocketbox import events
from pocketbox.engine.containers import Containers
from pocketbox.errors import Conflict, PocketboxError


def _check(record: dict, net: dict) -> None:
    """Docker's refusals: host and none are not networks one joins; a container that shares
    another namespace (host, none, container:NAME) has no interfaces of its own to add."""
    mode = record["HostConfig"].get("NetworkMode", "bridge")
    if net["Name"] in ("host", "none"):
        raise PocketboxError("container cannot be disconnected from host network or connected to host network")
    if mode in ("host", "none") or mode.startswith("container:"):
        raise PocketboxError("container sharing network namespace with another container or host cannot be "
                             "connected to any other network")


def connect_network(ref: str, network: str, aliases: list[str] = (), ip: str | None = None,
                    engine: Containers | None = None) -> dict:
    from pocketbox.network import endpoint
    from pocketbox.network.networks import DEFAULT, Networks

    engine = engine or Containers()
    networks = Networks(engine.store.root)
    net = networks.find(network)
    cid = engine.find(ref)["Id"]
    with engine.lock(cid):
        record = engine.refresh(engine.load(cid))
        _check(record, net)
        configs = record.setdefault("NetworkingConfig", {}).setdefault("EndpointsConfig", {})
        if net["Name"] == record["HostConfig"].get("NetworkMode", "bridge") or net["Name"] in configs:
            raise Conflict(f"endpoint with name {record['Name'].lstrip('/')} already exists in network {net['Name']}")
        if ip:
            import ipaddress

            if net["Name"] == DEFAULT:
                raise PocketboxError("user specified IP address is supported on user defined networks only")
            if ipaddress.IPv4Address(ip) not in ipaddress.IPv4Network(net["IPAM"]["Config"][0]["Subnet"]):
                raise PocketboxError(f"Invalid address {ip}: It does not belong to any of this network's subnets")
        configs[net["Name"]] = {"Aliases": list(aliases) or None,
                                **({"IPAMConfig": {"IPv4Address": ip}} if ip else {})}
        if record["State"]["Status"] in ("running", "paused"):
            settings = endpoint.attach(networks, record, engine.dir(cid), net, primary=False, aliases=aliases)
            record["NetworkSettings"].setdefault("Networks", {}).update(settings["Networks"])
        engine.save(record)
    events.emit("network", "connect", net["Id"], {"container": cid, "name": net["Name"], "type": net["Driver"]})
    return record


def disconnect_network(ref: str, network: str, force: bool = False, engine: Containers | None = None) -> dict:
    from pocketbox.network import endpoint
    from pocketbox.network.networks import Networks

    engine = engine or Containers()
    networks = Networks(engine.store.root)
    try:
        net = networks.find(network)
    except PocketboxError:
        if force:
            return {}
        raise
    cid = engine.find(ref)["Id"]
    with engine.lock(cid):
        record = engine.refresh(engine.load(cid))
        _check(record, net)
        configs = (record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        if net["Name"] == record["HostConfig"].get("NetworkMode", "bridge"):
            raise PocketboxError(f"pocketbox cannot disconnect a container from the network it was made with "
                                 f"({net['Name']}); only from one joined later with `network connect`")
        if net["Name"] not in configs:
            raise PocketboxError(f"container {cid} is not connected to network {net['Name']}")
        del configs[net["Name"]]
        endpoint.detach(networks, record, engine.dir(cid), net)
        (record["NetworkSettings"].get("Networks") or {}).pop(net["Name"], None)
        engine.save(record)
    events.emit("network", "disconnect", net["Id"], {"container": cid, "name": net["Name"], "type": net["Driver"]})
    return record


def with_networks(record: dict, store_root) -> dict:
    """`inspect` of a container that is not running: the networks it will join at its next start,
    as Docker lists them (no address yet; on a user-defined network its short ID is an alias too,
    which docker-compose looks for before it connects a container again)."""
    from pocketbox.network.networks import DEFAULT, Networks

    settings = record.get("NetworkSettings") or {}
    mode = record["HostConfig"].get("NetworkMode", "bridge")
    if settings.get("Networks") or mode in ("host", "none") or mode.startswith("container:"):
        return record
    configs = (record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    networks, shown = Networks(store_root), {}
    for name in dict.fromkeys([mode, *configs]):
        try:
            net = networks.find(name)
        except PocketboxError:
            continue
        aliases = list((configs.get(name) or {}).get("Aliases") or [])
        if net["Name"] != DEFAULT:
            aliases += [record["Id"][:12]] if record["Id"][:12] not in aliases else []
        shown[net["Name"]] = {"IPAMConfig": (configs.get(name) or {}).get("IPAMConfig"), "Links": None,
                              "Aliases": aliases or None, "NetworkID": net["Id"], "EndpointID": "", "Gateway": "",
                              "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                              "GlobalIPv6PrefixLen": 0, "MacAddress": "", "DriverOpts": None}
    return {**record, "NetworkSettings": {**settings, "Networks": shown}}
