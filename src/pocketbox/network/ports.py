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
    """protocol, container_port, host_ip ("" means every address of the host, 0.0.0.0) and host_port
    (0: pick a free one when the container starts). Not a dataclass: it imports inspect (~5 ms)."""

    __slots__ = ()

    @property
    def key(self) -> str:
        return f"{self.container_port}/{self.protocol}"

    def shown_ip(self) -> str:
        return self.host_ip or "0.0.0.0"

    def clashes(self, other: "Binding") -> bool:
        """Same protocol and host port on overlapping addresses (0.0.0.0 overlaps every one)."""
        return (self.protocol == other.protocol and self.host_port == other.host_port and self.host_port != 0
                and (not self.host_ip or not other.host_ip or self.host_ip == other.host_ip))


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
    parts = rest.rsplit(":", 2)
    if len(parts) == 1:
        return Binding(proto, _port(parts[0], "container"))
    if len(parts) == 2:
        return Binding(proto, _port(parts[1], "container"), "", _port(parts[0], "host"))
    ip, host, container = parts
    ip = ip.strip("[]")
    try:
        _socket.inet_aton(ip)
        if ip.count(".") != 3:
            raise OSError
    except OSError:
        raise InvalidPort(f"invalid IP address in {spec!r}: {ip!r} (pocketbox publishes on IPv4)") from None
    return Binding(proto, _port(container, "container"), "" if ip == "0.0.0.0" else ip,
                   _port(host, "host") if host else 0)


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


def _bind(b: Binding, port: int) -> int:
    """Bind a socket of b's protocol to b's address and `port`, close it; the port bound."""
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM if b.protocol == "tcp" else _socket.SOCK_DGRAM)
    try:
        if b.protocol == "tcp":  # a port in TIME_WAIT is free; one with a listener is not
            s.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
        s.bind((b.host_ip or "0.0.0.0", port))
        return s.getsockname()[1]
    finally:
        s.close()


def check_free(b: Binding) -> None:
    """Bind the host port once, as docker-proxy would: a clear error if something holds it."""
    try:
        _bind(b, b.host_port)
    except OSError as e:
        raise PortInUse(f"Bind for {b.shown_ip()}:{b.host_port} failed: port is already allocated"
                        f" ({e.strerror})") from None


def pick_free(b: Binding, taken: list[Binding]) -> Binding:
    """A host port the kernel says is free (from its ephemeral range), not used by another container."""
    for _ in range(64):
        candidate = Binding(b.protocol, b.container_port, b.host_ip, _bind(b, 0))
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
    """ps's PORTS column: 0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp"""
    return ", ".join(f"{b.shown_ip()}:{b.host_port}->{b.key}" for b in from_docker(data))
