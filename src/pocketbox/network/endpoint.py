"""A container's place on a network: connect() before its process starts, disconnect() after.

    connect:  allocate an address (and host ports) in endpoints.json, under the networks lock
              a new network namespace, kept by a bind mount on <container dir>/netns
              the network's bridge (made on first use)
              a veth pair: vethXXXX on the bridge here, eth0 inside the namespace
              eth0's address and the default route via the bridge's gateway address
              DNAT rules for -p, /etc/hosts of the container (and of its network peers)
    disconnect: the reverse; every step tolerates having been done already, so a container
              whose pocketbox was killed is cleaned by the next command that notices.

The runtime then only joins the namespace (config.json names it by path), as runc does with
the namespaces podman's netavark prepares."""
import os

from pocketbox import explain, syscalls as sc
from pocketbox.errors import Conflict, PocketboxError
from pocketbox.network import hosts, ipam, ports as ports_mod
from pocketbox.network.networks import Networks, ip_forwarding
from pocketbox.processes import close_fds_except

FORWARDING_WARNING = "WARNING: IPv4 forwarding is disabled. Networking will not work."


def netns_path(container_dir) -> str:
    return os.path.join(str(container_dir), "netns")


def veth_name(cid: str) -> str:
    return f"veth{cid[:11]}"  # IFNAMSIZ: at most 15 characters


def create_netns(path: str) -> None:
    """`ip netns add`, by hand: unshare(CLONE_NEWNET) moves this thread into a new namespace; a
    bind mount of /proc/thread-self/ns/net keeps it alive after we setns() back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        with open(path, "w"):
            pass
        sc.unshare(sc.CLONE_NEWNET)
        try:
            sc.mount("/proc/thread-self/ns/net", path, None, sc.MS_BIND)
        finally:
            sc.setns(own, sc.CLONE_NEWNET)
    finally:
        os.close(own)
    explain.emit("network", "create the container's network namespace and keep it with a bind mount",
                 f"unshare(CLONE_NEWNET); mount --bind /proc/thread-self/ns/net {path}", "man 7 network_namespaces")


def remove_netns(path: str) -> None:
    try:
        sc.umount2(path, sc.MNT_DETACH)
        explain.emit("cleanup", "release the container's network namespace", f"umount2({path!r}, MNT_DETACH)",
                     "man 2 umount2")
    except OSError:
        pass  # not mounted (never made, or gone with a reboot)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def requested_ports(record: dict) -> list[ports_mod.Binding]:
    return ports_mod.from_docker(record["HostConfig"].get("PortBindings") or {})


def endpoint_key(cid: str, net: dict, primary: bool) -> str:
    """endpoints.json's key: the container ID for its first network, ID@NETWORK for the others."""
    return cid if primary else f"{cid}@{net['Id'][:12]}"


def owner(key: str) -> str:
    return key.split("@", 1)[0]


def extra_networks(record: dict) -> dict:
    """The networks joined besides NetworkMode (`network connect`): name -> endpoint config."""
    configs = (record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    mode = record["HostConfig"].get("NetworkMode", "bridge")
    return {name: config or {} for name, config in configs.items() if name != mode}


def connect(record: dict, container_dir, find_container) -> dict:
    """Give the container its networks (NetworkMode, then each one `network connect` added);
    returns NetworkSettings for its record. `find_container(ref)` looks another container up
    (for --network container:NAME)."""
    mode = record["HostConfig"].get("NetworkMode", "bridge")
    if mode in ("host", "none"):
        return {}
    path = netns_path(container_dir)
    if mode.startswith("container:"):
        return _share(record, mode.split(":", 1)[1], path, find_container)
    networks = Networks()
    own = ((record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).get(mode) or {}
    result = attach(networks, record, container_dir, networks.find(mode), primary=True,
                    aliases=own.get("Aliases") or [])
    try:
        for name, config in extra_networks(record).items():
            more = attach(networks, record, container_dir, networks.find(name), primary=False,
                          aliases=config.get("Aliases") or [])
            result["Networks"].update(more["Networks"])
    except BaseException:
        disconnect(record, container_dir)
        raise
    if not ip_forwarding() and not enable_forwarding():
        import sys

        print(FORWARDING_WARNING, file=sys.stderr)
    return result


def attach(networks: Networks, record: dict, container_dir, net: dict, primary: bool, aliases=()) -> dict:
    """One network for the container: an address (and, on its first network, the host ports), a
    veth pair whose inside end is eth0 (eth1, eth2... for the next networks), the routes. Returns
    NetworkSettings with this network in it; undone by disconnect()/detach() on failure."""
    cid = record["Id"]
    path = netns_path(container_dir)
    config = net["IPAM"]["Config"][0]
    key = endpoint_key(cid, net, primary)
    containers_dir = os.path.dirname(str(container_dir))
    with networks.lock():
        endpoints = {k: v for k, v in networks.endpoints().items()
                     if os.path.isdir(os.path.join(containers_dir, owner(k)))}  # forget containers removed behind our back
        if not primary and key in endpoints:
            raise Conflict(f"endpoint with name {record['Name'].lstrip('/')} already exists in network {net['Name']}")
        taken = [b for k, e in endpoints.items() if owner(k) != cid for b in ports_mod.from_docker(e.get("Ports") or {})]
        bindings = []
        for b in requested_ports(record) if primary else []:
            if b.host_port == 0:
                b = ports_mod.pick_free(b, taken + bindings)
            elif any(b.clashes(t) for t in taken + bindings):
                raise ports_mod.PortInUse(f"Bind for {b.shown_address()} failed: port is already allocated")
            else:
                ports_mod.check_free(b)
            bindings += ports_mod.expand(b)  # "" is 0.0.0.0 and, where the host has IPv6, ::
        used = {e["IPAddress"] for k, e in endpoints.items() if e["NetworkID"] == net["Id"] and k != key}
        wanted = (((record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}).get(net["Name"]) or {}) \
            .get("IPAMConfig", {}).get("IPv4Address")
        if wanted and (wanted in used or wanted == config["Gateway"]):
            raise PocketboxError(f"Address already in use: {wanted}")
        ip = wanted or ipam.next_address(config["Subnet"], config["Gateway"], used)
        inside = {e.get("Interface", "eth0") for k, e in endpoints.items() if owner(k) == cid}
        ifname = "eth0" if primary else next(f"eth{n}" for n in range(1, 64) if f"eth{n}" not in inside)
        endpoint = {"NetworkID": net["Id"], "Network": net["Name"], "IPAddress": ip,
                    "IPPrefixLen": int(config["Subnet"].split("/")[1]), "Gateway": config["Gateway"],
                    "MacAddress": ipam.mac_for(ip), "Interface": ifname,
                    "Veth": veth_name(cid) if primary else f"veth{cid[:8]}{int(ifname[3:]):03d}",
                    "Name": record["Name"].lstrip("/"), "Hostname": record["Config"]["Hostname"],
                    "Aliases": list(aliases), "Ports": ports_mod.to_docker(bindings),
                    "ExtraHosts": record["HostConfig"].get("ExtraHosts") or []}
        endpoints[key] = endpoint  # recorded before any act, so that disconnect() can undo a crash
        networks.save_endpoints(endpoints)
    explain.emit("network", f"allocate the address {ip}/{endpoint['IPPrefixLen']} on network {net['Name']}"
                 + (f" and host ports {', '.join(str(b.host_port) for b in bindings)}" if bindings else ""),
                 f"write {networks.dir / 'endpoints.json'}")
    try:
        _plumb(networks, net, endpoint, path, bindings, cid, primary)
        _write_hosts(networks, net["Id"], container_dir, cid)
    except BaseException as e:
        if primary:
            disconnect(record, container_dir)
        else:
            detach(networks, record, container_dir, net)
        if isinstance(e, OSError):
            raise PocketboxError(f"failed to set up the container's network: {e.strerror or e}") from None
        raise
    return settings(endpoint, path)


def enable_forwarding() -> bool:
    """What Docker does when it sets up a bridge: net.ipv4.ip_forward=1, so that containers reach
    beyond this host. False if the host would not have it."""
    try:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
    except OSError:
        return False
    explain.emit("network", "turn on IPv4 forwarding (containers on a bridge reach beyond this host), as Docker does",
                 "write /proc/sys/net/ipv4/ip_forward = 1", "man 7 ip")
    return True


def _plumb(networks: Networks, net: dict, ep: dict, path: str, bindings, cid: str, primary: bool = True) -> None:
    from pocketbox.network import nat
    from pocketbox.network.netlink import Netlink, netlink_in

    if primary:
        create_netns(path)
    bridge = networks.bridge_name(net)
    ifname = ep.get("Interface", "eth0")
    with netlink_in(path) as inside:
        inside.set_up("lo")
        with Netlink() as host:
            networks.ensure_bridge(net, host)
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                host.add_veth(ep["Veth"], ifname, fd, ep["MacAddress"])
            finally:
                os.close(fd)
            host.set_up(ep["Veth"], master=bridge)
        explain.emit("network", f"connect the container to {bridge} with a veth pair: {ep['Veth']} here, {ifname} "
                     "inside", f"ip link add {ep['Veth']} type veth peer name {ifname} netns {path} address "
                     f"{ep['MacAddress']}; ip link set {ep['Veth']} master {bridge} up", "man 4 veth")
        inside.add_address(ifname, ep["IPAddress"], ep["IPPrefixLen"])
        inside.set_up(ifname)
        if primary:  # the first network has the default route; the others only their subnet
            inside.add_default_route(ep["Gateway"], ifname)
        explain.emit("network", f"give {ifname} the address {ep['IPAddress']}/{ep['IPPrefixLen']}"
                     + (f", route everything else via {ep['Gateway']}" if primary else ""),
                     f"ip addr add {ep['IPAddress']}/{ep['IPPrefixLen']} dev {ifname}; ip link set {ifname} up"
                     + (f"; ip route add default via {ep['Gateway']}" if primary else "")
                     + " (in the container's namespace)", "man 8 ip-route")
    v4 = [b for b in bindings if not b.ipv6]
    if v4:
        nat.publish(v4, ep["IPAddress"], cid)
    v6 = [b for b in bindings if b.ipv6]
    if v6:
        ep["Proxy"] = start_proxy(v6, ep["IPAddress"])
        with networks.lock():
            endpoints = networks.endpoints()
            if cid in endpoints:
                endpoints[cid]["Proxy"] = ep["Proxy"]
                networks.save_endpoints(endpoints)


PROXY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pocketbox-proxy")


def start_proxy(bindings, container_ip: str) -> dict:
    """The IPv6 side of published ports: pocketbox-proxy, given the sockets bound here (so a port
    that is taken is an error now), in a session of its own and orphaned at once. Returns its pid
    and start time (how disconnect() recognises it)."""
    from pocketbox.processes import process_start_time

    sockets = [ports_mod.listening_socket(b, b.host_port, listen=True) for b in bindings]
    try:
        args = [PROXY] + [f"{s.fileno()}:{container_ip}:{b.container_port}" for s, b in zip(sockets, bindings)]
        r, w = os.pipe()
        first = os.fork()
        if first == 0:
            try:
                os.setsid()
                pid = os.fork()
                if pid == 0:
                    null = os.open("/dev/null", os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(null, fd)
                    keep = [s.fileno() for s in sockets]
                    close_fds_except(keep)  # nothing else of ours (an explain pipe)
                    for fd in keep:
                        os.set_inheritable(fd, True)
                    os.execv(PROXY, args)
                os.write(w, str(pid).encode())
            finally:
                os._exit(0)
        os.close(w)
        pid = int(os.read(r, 32) or 0)
        os.close(r)
        os.waitpid(first, 0)
    finally:
        for s in sockets:
            s.close()
    if not pid:
        raise PocketboxError("could not start pocketbox-proxy for the IPv6 side of the published ports")
    for b in bindings:
        explain.emit("nat", f"publish [{b.host_ip}]:{b.host_port} -> {container_ip}:{b.container_port}/tcp with "
                     f"pocketbox-proxy (pid {pid}): IPv6 cannot be NATed to the container's IPv4 address",
                     f"socket(AF_INET6); bind([{b.host_ip}]:{b.host_port}); listen(); exec {PROXY}", "man 7 ipv6")
    return {"Pid": pid, "StartTime": process_start_time(pid)}


def stop_proxy(proxy: dict | None) -> None:
    from pocketbox.processes import process_alive

    if proxy and process_alive(proxy["Pid"], proxy.get("StartTime")):
        try:
            os.kill(proxy["Pid"], 9)
            explain.emit("cleanup", f"stop pocketbox-proxy (pid {proxy['Pid']})", f"kill -9 {proxy['Pid']}")
        except ProcessLookupError:
            pass


def settings(ep: dict, path: str) -> dict:
    """NetworkSettings as Docker's inspect shows them."""
    net = {"NetworkID": ep["NetworkID"], "IPAddress": ep["IPAddress"], "IPPrefixLen": ep["IPPrefixLen"],
           "Gateway": ep["Gateway"], "MacAddress": ep["MacAddress"], "Aliases": [ep["Name"], ep["Hostname"]]}
    return {"SandboxKey": path, "Bridge": "", "IPAddress": ep["IPAddress"], "IPPrefixLen": ep["IPPrefixLen"],
            "Gateway": ep["Gateway"], "MacAddress": ep["MacAddress"], "Ports": ep["Ports"],
            "Networks": {ep["Network"]: net}}


def _share(record: dict, ref: str, path: str, find_container) -> dict:
    """--network container:NAME: join that container's namespace (a bind mount of its /proc/PID/ns/net)."""
    target = find_container(ref)
    if target["State"]["Status"] not in ("running", "paused"):
        raise PocketboxError(f"cannot join network of a non running container: {target['Id']}")
    with open(path, "w"):
        pass
    sc.mount(f"/proc/{target['State']['Pid']}/ns/net", path, None, sc.MS_BIND)
    explain.emit("network", f"join the network namespace of container {target['Id'][:12]}",
                 f"mount --bind /proc/{target['State']['Pid']}/ns/net {path}", "man 7 network_namespaces")
    return {"SandboxKey": path, "Networks": {}}


def disconnect(record: dict, container_dir) -> None:
    """Undo connect(): veths, NAT rules, proxies, addresses, namespace, peers' /etc/hosts. Idempotent."""
    mode = record["HostConfig"].get("NetworkMode", "bridge")
    if mode in ("host", "none"):
        return
    path = netns_path(container_dir)
    if not mode.startswith("container:"):
        networks = Networks()
        with networks.lock():
            endpoints = networks.endpoints()
            mine = {k: endpoints.pop(k) for k in [k for k in endpoints if owner(k) == record["Id"]]}
            if mine:
                networks.save_endpoints(endpoints)
        for key, ep in mine.items():
            _release(networks, record, container_dir, ep)
    remove_netns(path)


def detach(networks: Networks, record: dict, container_dir, net: dict) -> bool:
    """`network disconnect` of one network that is not the container's first: its veth and address."""
    key = endpoint_key(record["Id"], net, primary=False)
    with networks.lock():
        endpoints = networks.endpoints()
        ep = endpoints.pop(key, None)
        if ep is not None:
            networks.save_endpoints(endpoints)
    if ep is not None:
        _release(networks, record, container_dir, ep)
    return ep is not None


def _release(networks: Networks, record: dict, container_dir, ep: dict) -> None:
    from pocketbox.network import nat
    from pocketbox.network.netlink import Netlink

    with Netlink() as nl:
        if nl.delete(ep["Veth"]):
            explain.emit("cleanup", f"remove the veth pair {ep['Veth']} / {ep.get('Interface', 'eth0')}",
                         f"ip link del {ep['Veth']}", "man 4 veth")
    if ep.get("Ports"):
        nat.remove(record["Id"])
    stop_proxy(ep.get("Proxy"))
    explain.emit("cleanup", f"release the address {ep['IPAddress']}", f"write {networks.dir / 'endpoints.json'}")
    _write_hosts(networks, ep["NetworkID"], container_dir, record["Id"])


def _write_hosts(networks: Networks, network_id: str, container_dir, cid: str) -> None:
    """Each running container's /etc/hosts names its own address and, for every user-defined
    network it is on, the other containers there (with their aliases). Docker answers these
    names with its embedded DNS server; pocketbox has no daemon to run one, so the files of the
    network's members are rewritten on each join and leave (on the default bridge, as Docker,
    containers do not see each other's names: only the container's own file is written)."""
    from pocketbox.network.networks import DEFAULT

    containers_dir = os.path.dirname(str(container_dir))
    endpoints = networks.endpoints()
    by_owner: dict[str, list[dict]] = {}
    for k, e in endpoints.items():
        by_owner.setdefault(owner(k), []).append(e)
    default = networks.find(DEFAULT)["Id"] == network_id
    targets = {cid} if default else {cid} | {owner(k) for k, e in endpoints.items() if e["NetworkID"] == network_id}
    for target in sorted(targets):
        first = endpoints.get(target)
        if first is None:
            continue  # not running
        peers = []
        for mine in by_owner.get(target, []):
            if mine["Network"] == DEFAULT:
                continue
            for other, theirs in by_owner.items():
                for o in theirs:
                    if other != target and o["NetworkID"] == mine["NetworkID"]:
                        names = " ".join([o["Name"], *[a for a in o.get("Aliases") or [] if a != o["Name"]]])
                        peers.append((o["IPAddress"], names, other[:12]))
        try:
            hosts.rewrite(os.path.join(containers_dir, target, "hosts"),
                          hosts.hosts_text(first["Hostname"], first["IPAddress"], peers, first.get("ExtraHosts") or []))
        except FileNotFoundError:
            continue
    if not default and len(targets) > 1:
        explain.emit("network", f"update /etc/hosts of the {len(targets)} container(s) on the network",
                     "rewrite <container dir>/hosts (bind-mounted on /etc/hosts)")
