"""Published ports: `-p [ip:][host_port:]container_port[/proto]` parsed as Docker does, the
checks that a host port is free, and the formats `ps`, `port` and inspect show."""
from collections import namedtuple

import _socket  # the C module: `socket` adds 3 ms of enum set-up to every `run -p`

from pocketbox.errors import PocketboxError

PROTOCOLS = ("tcp", "udp")


class InvalidPort(PocketboxError):
    pass


class PortInUse(PocketboxError):
    pass


class Binding(namedtuple("Binding", "protocol container_port host_ip host_port", defaults=("", 0))):
    """protocol, container_port, host_ip and host_port (0: pick a free one when the container
    starts). host_ip "" is every address of the host, IPv4 and IPv6 (Docker's default; expand()
    makes it 0.0.0.0 and ::); "0.0.0.0" every IPv4 one; "::" every IPv6 one. Not a dataclass: it
    imports inspect (~5 ms)."""

    __slots__ = ()

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"

    @property
    def ipv6(self) -> bool:
        return ":" in self.host_ip

    def shown_ip(self) -> str:
        return self.host_ip or "0.0.0.0"

    def shown_address(self) -> str:
        """Go's net.JoinHostPort, as current Docker prints it: 0.0.0.0:8080, [::]:8080."""
        return f"[{self.host_ip}]:{self.host_port}" if self.ipv6 else f"{self.shown_ip()}:{self.host_port}"

    def families(self) -> set[int]:
        return {4, 6} if not self.host_ip else {6 if self.ipv6 else 4}

    def clashes(self, other: "Binding") -> bool:
        """Same protocol and host port on overlapping addresses (a wildcard overlaps its family)."""
        if self.protocol != other.protocol or self.host_port != other.host_port or self.host_port == 0:
            return False
        common = self.families() & other.families()
        wild = ("", "0.0.0.0", "::")
        return bool(common) and (self.host_ip in wild or other.host_ip in wild or self.host_ip == other.host_ip)


def host_has_ipv6() -> bool:
    """IPv6 is on in this host (an address exists): then a published port has an IPv6 side too."""
    try:
        with open("/proc/net/if_inet6") as f:
            return bool(f.read().strip())
    except OSError:
        return False


def expand(b: Binding) -> list[Binding]:
    """"" -> 0.0.0.0, plus :: where the host has IPv6 (TCP: its IPv6 side is pocketbox-proxy)."""
    if b.host_ip:
        return [b]
    v4 = Binding(b.protocol, b.container_port, "0.0.0.0", b.host_port)
    if b.protocol == "tcp" and host_has_ipv6():
        return [v4, Binding(b.protocol, b.container_port, "::", b.host_port)]
    return [v4]


def _port(text: str, what: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise InvalidPort(f"invalid {what} port: {text!r} (1-65535)")
    return int(text)


def parse_publish(spec: str) -> Binding:
    """Docker's forms: 80, 8080:80, 127.0.0.1:8080:80, 127.0.0.1::80, each with /tcp or /udp."""
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in PROTOCOLS:
        raise InvalidPort(f"invalid proto: {proto} (tcp or udp)")
    if rest.startswith("["):  # [IPv6]:host:container
        ip, bracket, ports = rest.partition("]")
        host, colon, container = ports[1:].partition(":")
        if not bracket or not ports.startswith(":") or not colon:
            raise InvalidPort(f"invalid publish {spec!r}: use [IPv6]:host_port:container_port")
        parts = [ip + bracket, host, container]
    else:
        parts = rest.rsplit(":", 2)
    if len(parts) == 1:
        return Binding(proto, _port(parts[0], "container"))
    if len(parts) == 2:
        return Binding(proto, _port(parts[1], "container"), "", _port(parts[0], "host"))
    ip, host, container = parts
    bracketed = ip.startswith("[") and ip.endswith("]")
    ip = ip[1:-1] if bracketed else ip
    try:
        _socket.inet_pton(_socket.AF_INET6 if bracketed else _socket.AF_INET, ip)
    except OSError:
        raise InvalidPort(f"invalid IP address in {spec!r}: {ip!r} (an IPv4 address, or IPv6 in brackets: "
                          "[::1]:8080:80)") from None
    if bracketed and proto != "tcp":
        raise InvalidPort(f"invalid publish {spec!r}: pocketbox publishes UDP on IPv4 only")
    if bracketed:  # the canonical spelling (::1, not 0::1)
        ip = _socket.inet_ntop(_socket.AF_INET6, _socket.inet_pton(_socket.AF_INET6, ip))
    return Binding(proto, _port(container, "container"), ip, _port(host, "host") if host else 0)


def exposed(config: dict) -> list[Binding]:
    """-P: the image's ExposedPorts ("80/tcp": {}), each on a free host port."""
    out = []
    for key in sorted((config or {}).get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        out.append(Binding(proto or "tcp", _port(port, "exposed")))
    return out


def expose_specs(items: list[str]) -> dict:
    """--expose 80, 8000-8010/udp: Config.ExposedPorts entries ({"80/tcp": {}})."""
    out = {}
    for item in items:
        ports, _, proto = item.partition("/")
        proto = proto or "tcp"
        if proto not in PROTOCOLS:
            raise InvalidPort(f"invalid proto: {proto} (tcp or udp)")
        low, dash, high = ports.partition("-")
        try:
            first, last = _port(low, "exposed"), _port(high, "exposed") if dash else _port(low, "exposed")
        except InvalidPort:
            raise InvalidPort(f"Invalid range format for --expose: {item}") from None
        if last < first:
            raise InvalidPort(f"Invalid range format for --expose: {item}")
        out.update({f"{p}/{proto}": {} for p in range(first, last + 1)})
    return out


def listening_socket(b: Binding, port: int, listen: bool = False) -> "_socket.socket":
    """A socket of b's protocol bound to b's address (IPv6 ones IPv6-only: the IPv4 side is
    nftables') and `port`; listening if asked (pocketbox-proxy gets it)."""
    family = _socket.AF_INET6 if b.ipv6 else _socket.AF_INET
    s = _socket.socket(family, _socket.SOCK_STREAM if b.protocol == "tcp" else _socket.SOCK_DGRAM)
    try:
        if b.protocol == "tcp":  # a port in TIME_WAIT is free; one with a listener is not
            s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        if b.ipv6:
            s.setsockopt(_socket.IPPROTO_IPV6, _socket.IPV6_V6ONLY, 1)
        s.bind((b.host_ip or "0.0.0.0", port))
        if listen:
            s.listen(128)
        return s
    except BaseException:
        s.close()
        raise


def _bind(b: Binding, port: int) -> int:
    """Bind the port on every address family b covers, close; the port bound."""
    for one in expand(b):
        s = listening_socket(one, port)
        port = s.getsockname()[1]
        s.close()
    return port


def check_free(b: Binding) -> None:
    """Bind the host port once, as docker-proxy would: a clear error if something holds it."""
    try:
        _bind(b, b.host_port)
    except OSError as e:
        raise PortInUse(f"Bind for {b.shown_address()} failed: port is already allocated"
                        f" ({e.strerror})") from None


def pick_free(b: Binding, taken: list[Binding]) -> Binding:
    """A host port the kernel says is free (from its ephemeral range) on each family b covers,
    and not used by another container."""
    for _ in range(64):
        try:
            candidate = Binding(b.protocol, b.container_port, b.host_ip, _bind(b, 0))
        except OSError:  # free for IPv4, taken for IPv6: another
            continue
        if not any(candidate.clashes(t) for t in taken):
            return candidate
    raise PortInUse("could not find a free host port")


def to_docker(bindings: list[Binding]) -> dict:
    """{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}: HostConfig.PortBindings and
    NetworkSettings.Ports as inspect shows them."""
    out: dict[str, list] = {}
    for b in bindings:
        out.setdefault(b.key, []).append({"HostIp": b.host_ip, "HostPort": str(b.host_port) if b.host_port else ""})
    return out


def from_docker(data: dict) -> list[Binding]:
    out = []
    for key, hosts in (data or {}).items():
        port, _, proto = key.partition("/")
        for h in hosts or []:
            out.append(Binding(proto or "tcp", int(port), h.get("HostIp", ""), int(h.get("HostPort") or 0)))
    return out


def summary(data: dict) -> str:
    """ps's PORTS column: 0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 127.0.0.1:5353->53/udp"""
    return ", ".join(f"{b.shown_address()}->{b.key}" for b in from_docker(data))
