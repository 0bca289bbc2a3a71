"""Which subnet a network gets and which address a container gets: pure functions over what is
in use (networks.py keeps that on disk, under a lock), so they are easy to test and to read."""
import ipaddress

from pocketbox.errors import PocketboxError

DEFAULT_SUBNET = "172.17.0.0/16"  # the default `bridge` network's, as Docker's docker0
# where `network create` looks for a free subnet when none is given (Docker's default pools)
POOLS = [f"172.{n}.0.0/16" for n in range(18, 32)] + [f"192.168.{n}.0/20" for n in range(0, 256, 16)]


class InvalidSubnet(PocketboxError):
    pass


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    """A subnet as `network create --subnet` takes it: IPv4, host bits zero, room for containers."""
    try:
        net = ipaddress.IPv4Network(text)
    except ValueError as e:
        raise InvalidSubnet(f"invalid subnet {text!r}: {e}") from None
    if net.prefixlen > 29:
        raise InvalidSubnet(f"invalid subnet {text!r}: too small for a gateway and containers (at most /29)")
    return net


def gateway_of(subnet: str) -> str:
    """The bridge's own address: the subnet's first host (172.17.0.1)."""
    return str(next(ipaddress.IPv4Network(subnet).hosts()))


def next_address(subnet: str, gateway: str, used: set[str]) -> str:
    """The lowest free host address of the subnet, never the gateway."""
    for host in ipaddress.IPv4Network(subnet).hosts():
        ip = str(host)
        if ip != gateway and ip not in used:
            return ip
    raise PocketboxError(f"no available IPv4 addresses on this network's address pool {subnet}")


def free_subnet(taken: list[str], pools: list[str] = POOLS) -> str:
    """The first pool that overlaps none of the subnets already in use."""
    nets = [ipaddress.IPv4Network(t) for t in taken]
    for pool in pools:
        candidate = ipaddress.IPv4Network(pool)
        if not any(candidate.overlaps(n) for n in nets):
            return pool
    raise PocketboxError("could not find an available, non-overlapping IPv4 address pool for a new network")


def host_subnets(route_table: str, ours=lambda iface: False) -> list[str]:
    """The subnets this host already routes to (the text of /proc/net/route, little-endian hex),
    without the default route and the routes of our own bridges (`ours(iface)`): a new bridge
    must not take one (Docker's docker0, a VPN, a LAN)."""
    out = []
    for line in route_table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8 or ours(fields[0]):
            continue
        dest, mask = (ipaddress.IPv4Address(int(f, 16).to_bytes(4, "little")) for f in (fields[1], fields[7]))
        net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            out.append(str(net))
    return out


def overlapping(subnet: str, taken: list[str]) -> str | None:
    net = ipaddress.IPv4Network(subnet)
    return next((t for t in taken if net.overlaps(ipaddress.IPv4Network(t))), None)


def mac_for(ip: str) -> str:
    """Docker's rule: 02:42 followed by the four bytes of the IPv4 address (locally administered)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
