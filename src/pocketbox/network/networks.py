"""Network records (`network create/ls/inspect/rm/prune`) and their Linux bridges.

A network is a JSON record under <state root>/networks/ and, once a container uses it, a bridge
(`pocketbox0` for the default network `bridge`, `pb-<id>` for the others) holding the gateway
address. Which container has which address and ports is in networks/endpoints.json; every
change to either happens under one lock (locks/networks.lock)."""
import os
import re
import time

from pocketbox import explain
from pocketbox.errors import Conflict, NotFound, PocketboxError
from pocketbox.locks import locked
from pocketbox.network import ipam
from pocketbox.state import ensure_dir, read_json, state_root, write_json_atomic

DEFAULT = "bridge"
DEFAULT_BRIDGE = "pocketbox0"
PREDEFINED = {"host": "host", "none": "null"}  # name -> driver; no record, no bridge
NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class Networks:
    def __init__(self, root=None):
        self.root = root or state_root()
        self.dir = self.root / "networks"

    def lock(self):
        return locked(self.root / "locks" / "networks.lock")

    # --- records -----------------------------------------------------------------------------
    def _path(self, nid: str):
        return self.dir / f"{nid}.json"

    def _new(self, name: str, subnet: str, gateway: str, bridge: str | None = None, internal: bool = False,
             labels: dict | None = None) -> dict:
        nid = os.urandom(32).hex()
        record = {"Name": name, "Id": nid, "Created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "Scope": "local", "Driver": "bridge", "EnableIPv6": False,
                  "IPAM": {"Driver": "default", "Config": [{"Subnet": subnet, "Gateway": gateway}]},
                  "Internal": internal, "Labels": labels or {},
                  "Options": {"com.docker.network.bridge.name": bridge or f"pb-{nid[:12]}"}}
        ensure_dir(self.dir)
        write_json_atomic(self._path(nid), record, mode=0o644)
        return record

    def view(self, record: dict) -> dict:
        """A network as `inspect` shows it (Docker's shape): its containers, and only the options
        its creator gave (the bridge name pocketbox chose itself is an implementation detail)."""
        from pocketbox.network.endpoint import owner

        options = dict(record.get("Options") or {})
        if options.get("com.docker.network.bridge.name") == f"pb-{record['Id'][:12]}":
            del options["com.docker.network.bridge.name"]
        return {**record, "Options": options, "Attachable": True, "Ingress": False, "ConfigOnly": False,
                "Containers": {owner(key): {"Name": e["Name"], "EndpointID": key, "MacAddress": e["MacAddress"],
                                            "IPv4Address": f"{e['IPAddress']}/{e['IPPrefixLen']}", "IPv6Address": ""}
                               for key, e in self.endpoints().items() if e["NetworkID"] == record["Id"]}}

    def records(self) -> list[dict]:
        if not self.dir.is_dir():
            return []
        return [r for p in sorted(self.dir.glob("*.json")) if p.name != "endpoints.json"
                and (r := read_json(p)) is not None]

    def default(self) -> dict:
        """The default network `bridge`, made on first use. Its subnet is 172.17.0.0/16 unless a
        route of this host already covers it (then the first free pool, as Docker chooses) or
        POCKETBOX_BRIDGE_SUBNET says otherwise (read when it is first made)."""
        for r in self.records():
            if r["Name"] == DEFAULT:
                return r
        with self.lock():
            for r in self.records():
                if r["Name"] == DEFAULT:
                    return r
            if os.environ.get("POCKETBOX_BRIDGE_SUBNET"):
                subnet = str(ipam.parse_subnet(os.environ["POCKETBOX_BRIDGE_SUBNET"]))
            else:  # Docker's: 172.17.0.0/16, or the first pool no route of this host already covers
                taken = [c["Subnet"] for r in self.records() for c in r["IPAM"]["Config"]] + _host_subnets()
                subnet = ipam.free_subnet(taken, [ipam.DEFAULT_SUBNET] + ipam.POOLS)
            return self._new(DEFAULT, subnet, ipam.gateway_of(subnet), DEFAULT_BRIDGE)

    def find(self, ref: str) -> dict:
        if ref == DEFAULT:
            return self.default()
        if ref in PREDEFINED:
            return {"Name": ref, "Id": ref, "Driver": PREDEFINED[ref], "Scope": "local", "IPAM": {"Config": []},
                    "Internal": False, "Labels": {}, "Options": {}, "Created": ""}
        records = self.records()
        for r in records:
            if r["Name"] == ref or r["Id"] == ref:
                return r
        matches = [r for r in records if len(ref) >= 3 and r["Id"].startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise NotFound(f"network {ref} not found")

    def all(self) -> list[dict]:
        """`network ls`: the default bridge, host and none, then the user-defined networks."""
        default = self.default()
        return [default] + [self.find(n) for n in PREDEFINED] + [r for r in self.records() if r["Id"] != default["Id"]]

    def create(self, name: str, subnet: str | None = None, gateway: str | None = None, internal: bool = False,
               labels: dict | None = None) -> dict:
        if not NAME_RE.match(name):
            raise PocketboxError(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        if name == DEFAULT or name in PREDEFINED:
            raise Conflict(f"network with name {name} already exists")
        self.default()
        with self.lock():
            records = self.records()
            if any(r["Name"] == name for r in records):
                raise Conflict(f"network with name {name} already exists")
            taken = [c["Subnet"] for r in records for c in r["IPAM"]["Config"]]
            if subnet:
                subnet = str(ipam.parse_subnet(subnet))
                clash = ipam.overlapping(subnet, taken)
                if clash:
                    raise Conflict(f"invalid pool request: Pool overlaps with other one on this address space ({clash})")
            else:
                subnet = ipam.free_subnet(taken)
            if gateway:
                import ipaddress

                try:
                    if ipaddress.IPv4Address(gateway) not in ipaddress.IPv4Network(subnet):
                        raise ValueError
                except ValueError:
                    raise PocketboxError(f"invalid gateway {gateway!r}: not an address of {subnet}") from None
            record = self._new(name, subnet, gateway or ipam.gateway_of(subnet), internal=internal, labels=labels)
        explain.emit("network", f"network {name} created: subnet {subnet}, bridge "
                     f"{record['Options']['com.docker.network.bridge.name']} (made when a container first joins)",
                     f"write {self._path(record['Id'])}")
        from pocketbox import events

        events.emit("network", "create", record["Id"], {"name": name, "type": record["Driver"]})
        return record

    def remove(self, ref: str) -> str:
        net = self.find(ref)
        if net["Name"] == DEFAULT or net["Name"] in PREDEFINED:
            raise Conflict(f"{net['Name']} is a pre-defined network and cannot be removed")
        with self.lock():
            users = [e["Name"] for e in self.endpoints().values() if e["NetworkID"] == net["Id"]]
            if users:
                raise Conflict(f"error while removing network: network {net['Name']} id {net['Id']} has active "
                               f"endpoints ({', '.join(users)})")
            self.delete_bridge(net)
            os.unlink(self._path(net["Id"]))
        from pocketbox import events

        events.emit("network", "destroy", net["Id"], {"name": net["Name"], "type": net["Driver"]})
        return net["Name"]

    def prune(self, in_use: set[str]) -> list[str]:
        """Remove the user-defined networks no container (running or not) refers to."""
        removed = []
        for net in self.records():
            if net["Name"] != DEFAULT and net["Name"] not in in_use and net["Id"] not in in_use:
                try:
                    removed.append(self.remove(net["Id"]))
                except Conflict:
                    pass
        return removed

    # --- endpoints (which container has which address) ---------------------------------------
    def endpoints(self) -> dict:
        return read_json(self.dir / "endpoints.json", {}) or {}

    def save_endpoints(self, endpoints: dict) -> None:
        ensure_dir(self.dir)
        write_json_atomic(self.dir / "endpoints.json", endpoints, mode=0o644, durable=False)

    # --- the bridge --------------------------------------------------------------------------
    @staticmethod
    def bridge_name(net: dict) -> str:
        return net["Options"]["com.docker.network.bridge.name"]

    def ensure_bridge(self, net: dict, nl) -> None:
        """ip link add NAME type bridge; ip addr add GATEWAY/N dev NAME; ip link set NAME up; and the
        network's masquerade rules. Done once; later containers find it there."""
        name = self.bridge_name(net)
        if nl.exists(name):
            return
        config = net["IPAM"]["Config"][0]
        prefix = int(config["Subnet"].split("/")[1])
        try:
            nl.add_bridge(name)
        except FileExistsError:
            return  # another run made it just now
        nl.add_address(name, config["Gateway"], prefix)
        nl.set_up(name)
        explain.emit("network", f"create the bridge {name} with the gateway address {config['Gateway']}/{prefix}",
                     f"ip link add {name} type bridge; ip addr add {config['Gateway']}/{prefix} dev {name}; "
                     f"ip link set {name} up", "man 8 ip-link")
        # 127.0.0.1:PORT -> container: the kernel may route loopback-sourced packets to this bridge
        with open(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "w") as f:
            f.write("1")
        explain.emit("network", f"allow traffic from 127.0.0.1 to be routed to {name} (for published ports)",
                     f"sysctl net.ipv4.conf.{name}.route_localnet=1")
        from pocketbox.network import nat

        if nat.available() and not net.get("Internal"):
            nat.masquerade(config["Subnet"], name, net["Id"])

    def delete_bridge(self, net: dict) -> None:
        from pocketbox.network import nat
        from pocketbox.network.netlink import Netlink

        with Netlink() as nl:
            if nl.delete(self.bridge_name(net)):
                explain.emit("cleanup", f"remove the bridge {self.bridge_name(net)}",
                             f"ip link del {self.bridge_name(net)}", "man 8 ip-link")
        if nat.available():
            nat.remove(net["Id"], "outbound")


def _host_subnets() -> list[str]:
    try:
        with open("/proc/net/route") as f:
            return ipam.host_subnets(f.read(), lambda iface: iface == DEFAULT_BRIDGE or iface.startswith("pb-"))
    except OSError:
        return []


def ip_forwarding() -> bool:
    try:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip() == "1"
    except OSError:
        return False
