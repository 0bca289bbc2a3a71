"""Pure networking logic: -p parsing, port clashes, address and subnet allocation, MACs, hosts."""
import pytest

from pocketbox.network import hosts, ipam
from pocketbox.network.ports import Binding, InvalidPort, exposed, from_docker, parse_publish, summary, to_docker


@pytest.mark.parametrize("spec, expected", [
    ("80", Binding("tcp", 80)),
    ("8080:80", Binding("tcp", 80, "", 8080)),
    ("127.0.0.1:8080:80", Binding("tcp", 80, "127.0.0.1", 8080)),
    ("127.0.0.1::80", Binding("tcp", 80, "127.0.0.1", 0)),
    ("0.0.0.0:53:53/udp", Binding("udp", 53, "0.0.0.0", 53)),   # IPv4 only, as Docker reads it
    ("5353:53/udp", Binding("udp", 53, "", 5353)),
    ("[::1]:8080:80", Binding("tcp", 80, "::1", 8080)),
    ("[0::1]::80", Binding("tcp", 80, "::1", 0)),
    ("[::]:8080:80/tcp", Binding("tcp", 80, "::", 8080)),
])
def test_parse_publish(spec, expected):
    assert parse_publish(spec) == expected


@pytest.mark.parametrize("spec", ["", "abc", "0", "65536", "80:", "x:80", "80/sctp", "1.2.3:80:80",
                                  "300.1.1.1:80:80", "8080:80:70:60", "[::1]:80", "::1:8080:80", "[1.2.3.4]:1:2",
                                  "[::1]:53:53/udp"])
def test_parse_publish_rejects(spec):
    with pytest.raises(InvalidPort):
        parse_publish(spec)


def test_clashes():
    any_8080 = Binding("tcp", 80, "", 8080)
    assert any_8080.clashes(Binding("tcp", 81, "127.0.0.1", 8080))      # 0.0.0.0 covers 127.0.0.1
    assert not any_8080.clashes(Binding("udp", 80, "", 8080))            # other protocol
    assert not Binding("tcp", 80, "127.0.0.1", 8080).clashes(Binding("tcp", 80, "10.0.0.1", 8080))
    assert not Binding("tcp", 80).clashes(Binding("tcp", 80))            # not chosen yet
    assert any_8080.clashes(Binding("tcp", 80, "::1", 8080))            # "" is both families
    assert not Binding("tcp", 80, "0.0.0.0", 8080).clashes(Binding("tcp", 80, "::", 8080))
    assert Binding("tcp", 80, "::", 8080).clashes(Binding("tcp", 80, "::1", 8080))


def test_docker_formats_round_trip():
    bindings = [Binding("tcp", 80, "", 8080), Binding("tcp", 80, "127.0.0.1", 8081), Binding("udp", 53, "", 5353)]
    data = to_docker(bindings)
    assert data == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}],
                    "53/udp": [{"HostIp": "", "HostPort": "5353"}]}
    assert from_docker(data) == bindings
    assert summary(data) == "0.0.0.0:8080->80/tcp, 127.0.0.1:8081->80/tcp, 0.0.0.0:5353->53/udp"
    assert summary(to_docker([Binding("tcp", 80, "::", 8080)])) == "[::]:8080->80/tcp"
    assert exposed({"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}) == [Binding("udp", 53), Binding("tcp", 80)]


def test_addresses():
    assert ipam.gateway_of("172.17.0.0/16") == "172.17.0.1"
    assert ipam.next_address("172.17.0.0/16", "172.17.0.1", set()) == "172.17.0.2"
    assert ipam.next_address("172.17.0.0/16", "172.17.0.1", {"172.17.0.2", "172.17.0.3"}) == "172.17.0.4"
    assert ipam.next_address("10.0.0.0/29", "10.0.0.6", {"10.0.0.1"}) == "10.0.0.2"   # gateway anywhere
    with pytest.raises(Exception, match="no available IPv4 addresses"):
        ipam.next_address("10.0.0.0/29", "10.0.0.1", {f"10.0.0.{i}" for i in range(2, 7)})


def test_subnets():
    assert ipam.free_subnet(["172.17.0.0/16"]) == "172.18.0.0/16"
    assert ipam.free_subnet(["172.17.0.0/16", "172.18.5.0/24"]) == "172.19.0.0/16"
    taken = [f"172.{n}.0.0/16" for n in range(17, 32)]
    assert ipam.free_subnet(taken) == "192.168.0.0/20"
    assert ipam.overlapping("10.1.0.0/24", ["10.0.0.0/8"]) == "10.0.0.0/8"
    assert ipam.overlapping("10.1.0.0/24", ["172.17.0.0/16"]) is None
    for bad in ("10.0.0.1/24", "10.0.0.0/30", "fd00::/64", "nonsense"):
        with pytest.raises(ipam.InvalidSubnet):
            ipam.parse_subnet(bad)


def test_mac_and_hosts():
    assert ipam.mac_for("172.17.0.2") == "02:42:ac:11:00:02"
    text = hosts.hosts_text("abc", "10.0.0.2", [("10.0.0.3", "db", "0123456789ab")])
    assert text.startswith("127.0.0.1\tlocalhost\n")
    assert text.endswith("10.0.0.2\tabc\n10.0.0.3\tdb 0123456789ab\n")


def test_the_default_bridge_avoids_subnets_the_host_routes():
    from pocketbox.network import ipam

    route = ("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n"
             "eth0\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"      # default via 192.168.2.1
             "docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"  # 172.17.0.0/16
             "eth0\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")    # 192.168.2.0/24
    taken = ipam.host_subnets(route)
    assert taken == ["172.17.0.0/16", "192.168.2.0/24"]
    assert ipam.free_subnet(taken, [ipam.DEFAULT_SUBNET] + ipam.POOLS) == "172.18.0.0/16"
    assert ipam.free_subnet([], [ipam.DEFAULT_SUBNET] + ipam.POOLS) == "172.17.0.0/16"
