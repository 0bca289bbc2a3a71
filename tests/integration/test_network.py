"""Networking with real containers, inside the network namespace the suite made for itself
(conftest.py): the default bridge, published ports from this "host" and from a second namespace
playing another machine, user-defined networks with names, UDP, collisions, clean-up counts."""
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import links, requires_root

pytestmark = requires_root

HTTPD = "mkdir -p /www && echo hello-from-{name} > /www/index.html && exec httpd -f -p 80 -h /www"


def wget(url: str, netns_pid: int | None = None, timeout: int = 5) -> subprocess.CompletedProcess:
    """busybox wget (its -T segfaults in Debian 12's build: the timeout is ours)."""
    argv = ["busybox", "wget", "-q", "-O", "-", url]
    if netns_pid:
        argv = ["nsenter", f"--net=/proc/{netns_pid}/ns/net"] + argv
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(argv, 124, "", "timed out")


def wait_http(url: str, netns_pid: int | None = None) -> str:
    deadline = time.monotonic() + 10
    while True:
        r = wget(url, netns_pid, timeout=2)
        if r.returncode == 0 or time.monotonic() > deadline:
            return r.stdout
        time.sleep(0.1)


def inspect(pb, ref) -> dict:
    return json.loads(pb("inspect", ref).stdout)[0]


def nft_rules() -> str:
    r = subprocess.run(["nft", "list", "table", "ip", "pocketbox"], capture_output=True, text=True)
    return r.stdout


@pytest.fixture
def other_machine():
    """A second network namespace joined to ours by a veth pair: 10.200.0.1 here, 10.200.0.2 there."""
    proc = subprocess.Popen(["unshare", "--net", "sleep", "300"])
    time.sleep(0.1)
    there = ["nsenter", f"--net=/proc/{proc.pid}/ns/net"]
    try:
        for cmd in (["ip", "link", "add", "tomachine", "type", "veth", "peer", "name", "eth0", "netns", str(proc.pid)],
                    ["ip", "addr", "add", "10.200.0.1/24", "dev", "tomachine"], ["ip", "link", "set", "tomachine", "up"],
                    there + ["ip", "addr", "add", "10.200.0.2/24", "dev", "eth0"],
                    there + ["ip", "link", "set", "eth0", "up"], there + ["ip", "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True)
        yield proc.pid
    finally:
        subprocess.run(["ip", "link", "del", "tomachine"], capture_output=True)
        proc.kill()
        proc.wait()


def test_published_port_from_this_host_and_another_machine(pb, busybox, other_machine):
    cid = pb("run", "-d", "--name", "web", "-p", "8080:80", busybox, "sh", "-c", HTTPD.format(name="web")).stdout.strip()
    assert wait_http("http://127.0.0.1:8080/") == "hello-from-web\n"
    assert wait_http("http://10.200.0.1:8080/") == "hello-from-web\n"                  # another local address
    assert wait_http("http://10.200.0.1:8080/", other_machine) == "hello-from-web\n"   # from the other machine
    info = inspect(pb, "web")
    ip = info["NetworkSettings"]["IPAddress"]
    assert ip.startswith("172.17.0.") and info["NetworkSettings"]["Gateway"] == "172.17.0.1"
    assert info["NetworkSettings"]["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"},
                                                           {"HostIp": "::", "HostPort": "8080"}]}
    assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert info["NetworkSettings"]["MacAddress"] == "02:42:ac:11:00:" + f"{int(ip.split('.')[-1]):02x}"
    assert f"dnat to {ip}:80" in nft_rules() and cid in nft_rules()
    assert wget(f"http://{ip}/").stdout == "hello-from-web\n"                        # the bridge routes to it
    assert "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp" in pb("ps").stdout
    assert pb("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
    assert pb("port", "web", "80").stdout == "0.0.0.0:8080\n[::]:8080\n"
    assert wait_http("http://[::1]:8080/") == "hello-from-web\n"                     # IPv6: pocketbox-proxy
    assert "No public port '81/tcp'" in pb("port", "web", "81", expect=1).stderr
    veth = f"veth{cid[:11]}"
    assert veth in links()
    pb("stop", "-t", "1", "web")
    assert veth not in links() and cid not in nft_rules()        # stop frees the link, the rules, the address
    assert json.loads((pb.root / "networks" / "endpoints.json").read_text()) == {}
    assert inspect(pb, "web")["NetworkSettings"]["Ports"] == {}
    assert wget("http://127.0.0.1:8080/", timeout=1).returncode != 0
    pb("start", "web")                                        # and start brings them back
    assert wait_http("http://127.0.0.1:8080/") == "hello-from-web\n"
    pb("rm", "-f", "web")
    assert not os.path.exists(pb.root / "containers" / cid)


def test_ipv6_bindings(pb, busybox):
    """[::1]:PORT publishes on IPv6 only (through pocketbox-proxy); the proxy goes with the container."""
    pb("run", "-d", "--name", "six", "-p", "[::1]:8086:80", "-p", "127.0.0.1:8087:80", busybox, "sh", "-c",
       HTTPD.format(name="six"))
    assert pb("port", "six").stdout == "80/tcp -> [::1]:8086\n80/tcp -> 127.0.0.1:8087\n"
    assert wait_http("http://[::1]:8086/") == "hello-from-six\n"
    assert wait_http("http://127.0.0.1:8087/") == "hello-from-six\n"
    assert wget("http://127.0.0.1:8086/", timeout=1).returncode != 0
    proxy = json.loads((pb.root / "networks" / "endpoints.json").read_text())[inspect(pb, "six")["Id"]]["Proxy"]
    assert os.path.exists(f"/proc/{proxy['Pid']}")
    r = pb("run", "--rm", "-p", "[::1]:8086:80", busybox, "true", expect=125)  # taken on IPv6
    assert "port is already allocated" in r.stderr
    pb("rm", "-f", "six")
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{proxy['Pid']}") or "Z" in open(f"/proc/{proxy['Pid']}/stat").read().split()[2]
    r = pb("run", "--rm", "-p", "[nope]:1:2", busybox, "true", expect=125)
    assert "invalid IP address" in r.stderr


def test_loopback_only_binding_and_free_port(pb, busybox, other_machine):
    pb("run", "-d", "--name", "local", "-p", "127.0.0.1::80", busybox, "sh", "-c", HTTPD.format(name="local"))
    host_port = int(pb("port", "local", "80").stdout.strip().split(":")[1])
    assert host_port > 1024
    assert wait_http(f"http://127.0.0.1:{host_port}/") == "hello-from-local\n"
    assert wget(f"http://10.200.0.1:{host_port}/", other_machine, timeout=1).returncode != 0   # only on 127.0.0.1
    assert f"127.0.0.1:{host_port}->80/tcp" in pb("ps").stdout
    pb("rm", "-f", "local")


UDP_ECHO = ("perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalPort => 53, Proto => \"udp\") or die; "
            "while ($s->recv($m, 100)) { $s->send(\"echo:$m\") }'")


def test_udp_port(pb, debian_ref):
    pb("run", "-d", "--name", "udp", "-p", "5353:53/udp", debian_ref, "sh", "-c", UDP_ECHO)
    assert pb("port", "udp").stdout == "53/udp -> 0.0.0.0:5353\n"
    reply = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        for _ in range(30):  # until the server in the container is up
            s.sendto(b"over-udp", ("127.0.0.1", 5353))
            try:
                reply = s.recv(100)
                break
            except socket.timeout:
                continue
    assert reply == b"echo:over-udp"
    pb("rm", "-f", "udp")


def test_port_in_use_is_a_clear_error_and_leaves_nothing(pb, busybox):
    with socket.socket() as held:
        held.bind(("0.0.0.0", 0))
        held.listen()
        port = held.getsockname()[1]
        r = pb("run", "--rm", "-p", f"{port}:80", busybox, "true", expect=125)
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in r.stderr
        assert "Traceback" not in r.stderr
    pb("run", "-d", "--name", "first", "-p", "8081:80", busybox, "sleep", "60")
    r = pb("run", "--name", "second", "-p", "127.0.0.1:8081:80", busybox, "true", expect=125)
    assert "Bind for 127.0.0.1:8081 failed: port is already allocated" in r.stderr
    assert inspect(pb, "second")["State"]["Status"] == "created"  # recorded, as Docker does, with nothing held
    assert len(json.loads((pb.root / "networks" / "endpoints.json").read_text())) == 1
    pb("rm", "-f", "first", "second")
    for bad in ("80:abc", "99999:80", "1.2.3:80:80", "80/sctp"):
        r = pb("run", "--rm", "-p", bad, busybox, "true", expect=125)
        assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert not (pb.root / "containers").exists() or len(list((pb.root / "containers").iterdir())) == 0


def test_user_defined_network_names_and_container_mode(pb, busybox):
    net_id = pb("network", "create", "--subnet", "10.77.0.0/24", "appnet").stdout.strip()
    assert len(net_id) == 64
    assert "already exists" in pb("network", "create", "appnet", expect=1).stderr
    assert "overlaps" in pb("network", "create", "--subnet", "10.77.0.128/25", "other", expect=1).stderr
    rows = [line.split() for line in pb("network", "ls").stdout.splitlines()]
    assert rows[0] == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert {r[1] for r in rows[1:]} == {"bridge", "host", "none", "appnet"}
    pb("run", "-d", "--name", "db", "--network", "appnet", busybox, "sh", "-c", HTTPD.format(name="db"))
    db_ip = inspect(pb, "db")["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
    assert db_ip == "10.77.0.2"
    r = pb("run", "--rm", "--network", "appnet", busybox, "sh", "-c",
           f"ping -c1 -W2 db >/dev/null && ping -c1 -W2 {db_ip} >/dev/null && wget -q -O- http://db/ && "
           "ip -o -4 addr show eth0")
    assert r.stdout.startswith("hello-from-db\n") and "10.77.0.3/24" in r.stdout
    # a container on the default bridge cannot resolve or reach it
    assert pb("run", "--rm", busybox, "ping", "-c1", "-W1", "db", expect=None).returncode != 0
    # --network container:db shares db's namespace: its 127.0.0.1 is db's
    assert pb("run", "--rm", "--network", "container:db", busybox, "wget", "-q", "-O-",
              "http://127.0.0.1/").stdout == "hello-from-db\n"
    info = json.loads(pb("network", "inspect", "appnet").stdout)[0]
    assert info["IPAM"]["Config"] == [{"Subnet": "10.77.0.0/24", "Gateway": "10.77.0.1"}]
    assert [c["Name"] for c in info["Containers"].values()] == ["db"]
    assert "has active endpoints" in pb("network", "rm", "appnet", expect=1).stderr
    assert "pre-defined network" in pb("network", "rm", "bridge", expect=1).stderr
    assert "network nope not found" in pb("run", "--rm", "--network", "nope", busybox, "true", expect=125).stderr
    pb("rm", "-f", "db")
    bridge = f"pb-{net_id[:12]}"
    assert bridge in links()
    assert pb("network", "rm", "appnet").stdout.strip() == "appnet"
    assert bridge not in links() and net_id not in nft_rules()
    pb("network", "create", "unused")
    assert "unused" in pb("network", "prune", "-f").stdout
    assert pb("network", "ls", "-q").stdout.count("\n") == 3


def test_addresses_are_unique_under_concurrent_runs(pb, busybox):
    procs = [pb.popen("run", "-d", "--name", f"c{i}", busybox, "sleep", "60", stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE) for i in range(6)]
    for p in procs:
        assert p.wait(60) == 0, p.stderr.read()
    ips = [inspect(pb, f"c{i}")["NetworkSettings"]["IPAddress"] for i in range(6)]
    assert len(set(ips)) == 6
    pb("rm", "-f", *[f"c{i}" for i in range(6)])


def test_forwarding_is_turned_on_as_docker_does(pb, busybox):
    """Fresh Debian has it off; a container on a bridge turns it on (in the suite's own network
    namespace here); --network none needs nothing and says nothing."""
    def forwarding() -> str:
        with open("/proc/sys/net/ipv4/ip_forward") as f:
            return f.read().strip()

    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
        f.write("0")
    try:
        assert "IPv4 forwarding is disabled" in pb("info").stderr + pb("info").stdout
        r = pb("run", "--rm", "--network", "none", busybox, "true")
        assert "forwarding" not in r.stderr and forwarding() == "0"
        r = pb("run", "--rm", busybox, "true")
        assert "forwarding" not in r.stderr and forwarding() == "1"
    finally:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")


def test_no_leaks_after_100_runs_with_published_ports(pb, busybox):
    before = set(links())
    failures = []

    def loop(start):
        for i in range(start, 100, 2):
            r = pb("run", "--rm", "-p", f"{9000 + i}:80", busybox, "true", expect=None)
            if r.returncode:
                failures.append(r.stderr)
    threads = [threading.Thread(target=loop, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
    assert set(links()) - before <= {"pocketbox0"}
    assert "dnat" not in nft_rules()
    assert json.loads((pb.root / "networks" / "endpoints.json").read_text()) == {}
    assert not list((pb.root / "containers").iterdir())


def test_publish_all_exposed_ports(pb, busybox):
    pb("run", "--name", "base", "--network", "none", busybox, "true")
    pb("commit", "--change", "EXPOSE 80", "base", "web:exposed")
    pb("rm", "base")
    pb("run", "-d", "--name", "pall", "-P", "web:exposed", "sh", "-c", HTTPD.format(name="pall"))
    line = pb("port", "pall").stdout.strip()
    assert line.startswith("80/tcp -> 0.0.0.0:")
    assert wait_http(f"http://127.0.0.1:{line.rsplit(':', 1)[1]}/") == "hello-from-pall\n"
    assert json.loads(pb("inspect", "pall").stdout)[0]["HostConfig"]["PublishAllPorts"] is True
    pb("rm", "-f", "pall")


def test_outbound_traffic_is_masqueraded(pb, busybox, other_machine, tmp_path):
    """The other machine has no route back to 172.17.0.0/16: an answer arrives only if the
    container's traffic left with this host's address (masquerade) and was forwarded."""
    (tmp_path / "index.html").write_text("from-the-other-machine\n")
    server = subprocess.Popen(["nsenter", f"--net=/proc/{other_machine}/ns/net", "busybox", "httpd", "-f", "-p",
                               "8099", "-h", str(tmp_path)])
    try:
        r = pb("run", "--rm", busybox, "sh", "-c",
               "for i in 1 2 3 4 5 6 7 8 9 10; do wget -q -O- http://10.200.0.2:8099/ && exit 0; sleep 0.2; done; "
               "exit 1")
        assert r.stdout == "from-the-other-machine\n"
        routes = subprocess.run(["nsenter", f"--net=/proc/{other_machine}/ns/net", "ip", "route"],
                                capture_output=True, text=True).stdout
        assert "172.17" not in routes
    finally:
        server.kill()
        server.wait()


def test_killed_supervisor_and_container_are_reconciled_without_leaks(pb, busybox):
    import signal

    cid = pb("run", "-d", "--name", "crash", "-p", "8093:80", busybox, "sleep", "300").stdout.strip()
    state = inspect(pb, "crash")["State"]
    veth = f"veth{cid[:11]}"
    assert veth in links()
    os.kill(state["ShimPid"], signal.SIGKILL)       # pocketbox's own process dies first,
    os.kill(state["Pid"], signal.SIGKILL)           # then the container: nobody cleans up
    time.sleep(0.3)
    assert veth in links()                          # the namespace's bind mount keeps it all
    assert "Exited (255)" in pb("ps", "-a").stdout  # the next command notices and reconciles
    assert veth not in links() and cid not in nft_rules()
    assert json.loads((pb.root / "networks" / "endpoints.json").read_text()) == {}
    pb("rm", "crash")


def test_default_bridge_takes_a_free_subnet(pb, busybox):
    """Where 172.17.0.0/16 is in use (Docker's docker0 on the same machine), the first free pool."""
    import subprocess

    subprocess.run(["ip", "link", "add", "pbtest-taken", "type", "veth", "peer", "name", "pbtest-peer"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", "172.17.200.1/16", "dev", "pbtest-taken"], check=True)
        subprocess.run(["ip", "link", "set", "pbtest-taken", "up"], check=True)
        info = json.loads(pb("network", "inspect", "bridge").stdout)[0]
        assert info["IPAM"]["Config"][0]["Subnet"] == "172.18.0.0/16"
        ip = pb("run", "--rm", busybox, "sh", "-c", "ip -4 -o addr show eth0").stdout
        assert " 172.18.0." in ip
    finally:
        subprocess.run(["ip", "link", "del", "pbtest-taken"], check=True)


def test_network_connect_and_disconnect(pb, busybox):
    """A second interface at once for a running container, its alias in the peers' /etc/hosts, the
    same networks again after a restart, and nothing left after rm."""
    pb("network", "create", "--subnet", "10.77.0.0/24", "front")
    pb("network", "create", "--subnet", "10.78.0.0/24", "back")
    pb("run", "-d", "--name", "app", "--network", "front", busybox, "sleep", "60")
    pb("run", "-d", "--name", "db", "--network", "back", busybox, "sleep", "60")
    pb("network", "connect", "--alias", "api", "--ip", "10.78.0.50", "back", "app")
    addresses = pb("exec", "app", "ip", "-4", "-o", "addr").stdout
    assert "eth0    inet 10.77.0." in addresses and "eth1    inet 10.78.0.50/24" in addresses
    assert "10.78.0.50\tapp api" in pb("exec", "db", "cat", "/etc/hosts").stdout
    assert pb("exec", "db", "ping", "-c", "1", "-W", "2", "api").returncode == 0
    nets = inspect(pb, "app")["NetworkSettings"]["Networks"]
    assert sorted(nets) == ["back", "front"] and nets["back"]["IPAddress"] == "10.78.0.50"
    pb("restart", "-t", "0", "app")
    assert "eth1    inet 10.78.0.50/24" in pb("exec", "app", "ip", "-4", "-o", "addr").stdout
    pb("network", "disconnect", "back", "app")
    assert "eth1" not in pb("exec", "app", "ip", "-4", "-o", "addr").stdout
    assert "app" not in pb("exec", "db", "cat", "/etc/hosts").stdout
    pb("network", "connect", "back", "app")
    veths = [link for link in links() if link.startswith("veth" + inspect(pb, "app")["Id"][:8])]
    assert len(veths) == 2
    pb("rm", "-f", "app", "db")
    assert not [link for link in links() if link.startswith("veth")]
    assert json.loads((pb.root / "networks" / "endpoints.json").read_text()) == {}
    pb("network", "rm", "front", "back")
