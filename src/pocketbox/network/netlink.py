"""rtnetlink: the kernel's interface for network links, addresses and routes (what `ip` uses).

pocketbox speaks it directly with struct.pack instead of through pyroute2: importing pyroute2
costs ~190 ms on our machines, more than a whole `run --rm`. Every request is a netlink header,
one fixed struct (ifinfomsg, ifaddrmsg or rtmsg) and type-length-value attributes; the kernel
answers with an acknowledgement or an errno.  man 7 netlink, man 7 rtnetlink."""
import ipaddress
import os
import _socket  # the C module: `socket` adds 3 ms of enum set-up to every `run` with a network
import struct
from contextlib import contextmanager

from pocketbox import syscalls as sc

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 17, 18, 20, 24
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_OIF, RTA_GATEWAY = 4, 5
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
IFF_UP = 0x1


def attr(kind: int, data: bytes) -> bytes:
    """One rtattr: length, type, data, padded to 4 bytes."""
    length = 4 + len(data)
    return struct.pack("=HH", length, kind) + data + b"\0" * (-length % 4)


def name_attr(kind: int, name: str) -> bytes:
    return attr(kind, name.encode() + b"\0")


def ifinfo(index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """struct ifinfomsg: family, type, index, flags, change."""
    return struct.pack("=BxHiII", _socket.AF_UNSPEC, 0, index, flags, change)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


class Netlink:
    """A NETLINK_ROUTE socket in the network namespace that was current when it was opened."""

    def __init__(self):
        self.sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW | _socket.SOCK_CLOEXEC, 0)
        self.sock.bind((0, 0))
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, msg_type: int, body: bytes, flags: int = 0) -> list[bytes]:
        """Send one request and read until its acknowledgement; an error becomes OSError."""
        self.seq += 1
        header = struct.pack("=IHHII", 16 + len(body), msg_type, flags | NLM_F_REQUEST | NLM_F_ACK, self.seq, 0)
        self.sock.send(header + body)
        replies = []
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, kind, _, seq, _ = struct.unpack_from("=IHHII", data, offset)
                payload = data[offset + 16:offset + length]
                offset += (length + 3) & ~3
                if seq != self.seq:
                    continue
                if kind == NLMSG_ERROR:
                    error = -struct.unpack_from("=i", payload)[0]
                    if error:
                        raise OSError(error, os.strerror(error))
                    return replies
                replies.append(payload)

    # --- links -------------------------------------------------------------------------------
    def index(self, name: str) -> int:
        """ip link show NAME -> its interface index (ENODEV if there is none)."""
        reply = self.request(RTM_GETLINK, ifinfo() + name_attr(IFLA_IFNAME, name))
        return struct.unpack_from("=BxHiII", reply[0])[2]

    def exists(self, name: str) -> bool:
        try:
            self.index(name)
            return True
        except OSError:
            return False

    def add_bridge(self, name: str) -> None:
        """ip link add NAME type bridge"""
        info = attr(IFLA_LINKINFO, name_attr(IFLA_INFO_KIND, "bridge"))
        self.request(RTM_NEWLINK, ifinfo() + name_attr(IFLA_IFNAME, name) + info, NLM_F_CREATE | NLM_F_EXCL)

    def add_veth(self, name: str, peer: str, peer_netns_fd: int, peer_mac: str) -> None:
        """ip link add NAME type veth peer name PEER netns FD address MAC: one end here, the
        other created directly inside the container's network namespace."""
        peer_info = ifinfo() + name_attr(IFLA_IFNAME, peer) + attr(IFLA_NET_NS_FD, struct.pack("=I", peer_netns_fd)) \
            + attr(IFLA_ADDRESS, mac_bytes(peer_mac))
        info = attr(IFLA_LINKINFO, name_attr(IFLA_INFO_KIND, "veth")
                    + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info)))
        self.request(RTM_NEWLINK, ifinfo() + name_attr(IFLA_IFNAME, name) + info, NLM_F_CREATE | NLM_F_EXCL)

    def set_up(self, name: str, master: str | None = None) -> None:
        """ip link set NAME up [master BRIDGE]"""
        attrs = attr(IFLA_MASTER, struct.pack("=I", self.index(master))) if master else b""
        self.request(RTM_NEWLINK, ifinfo(self.index(name), IFF_UP, IFF_UP) + attrs)

    def delete(self, name: str) -> bool:
        """ip link del NAME (a veth takes its peer with it); False if there was no such link."""
        try:
            self.request(RTM_DELLINK, ifinfo() + name_attr(IFLA_IFNAME, name))
            return True
        except OSError as e:
            if e.errno in (19, 2):  # ENODEV, ENOENT
                return False
            raise

    # --- addresses and routes ---------------------------------------------------------------
    def add_address(self, name: str, address: str, prefixlen: int) -> None:
        """ip addr add ADDRESS/PREFIXLEN dev NAME (EEXIST if it is there already)."""
        ip = ipaddress.IPv4Address(address).packed
        body = struct.pack("=BBBBI", _socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, self.index(name))
        self.request(RTM_NEWADDR, body + attr(IFA_LOCAL, ip) + attr(IFA_ADDRESS, ip), NLM_F_CREATE | NLM_F_EXCL)

    def add_default_route(self, gateway: str, name: str) -> None:
        """ip route add default via GATEWAY dev NAME"""
        body = struct.pack("=BBBBBBBBI", _socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE,
                           RTN_UNICAST, 0)
        body += attr(RTA_GATEWAY, ipaddress.IPv4Address(gateway).packed) + attr(RTA_OIF, struct.pack("=I", self.index(name)))
        self.request(RTM_NEWROUTE, body, NLM_F_CREATE | NLM_F_EXCL)


@contextmanager
def netlink_in(netns_path: str):
    """A netlink socket inside another network namespace: switch this thread into it, open the
    socket (it stays bound to that namespace), switch back."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(target, sc.CLONE_NEWNET)
        try:
            nl = Netlink()
        finally:
            sc.setns(own, sc.CLONE_NEWNET)
    finally:
        os.close(own)
        os.close(target)
    try:
        yield nl
    finally:
        nl.close()
