"""Published ports and outbound traffic, through nftables NAT (what netavark does for podman).

pocketbox keeps its rules in one table of its own, `ip pocketbox`, and touches nothing else:

    prerouting (nat)   fib daddr type local jump published   traffic from other machines
    output     (nat)   fib daddr type local jump published   traffic from this host (127.0.0.1)
    published          tcp dport 8080 dnat to 172.17.0.2:80  one rule per -p, comment = container ID
    postrouting(nat)   jump outbound
    outbound           ip saddr 172.17.0.0/16 oifname != "pocketbox0" masquerade   (outbound)
                       ip saddr 127.0.0.0/8 oifname "pocketbox0" masquerade        (127.0.0.1:8080)

The kernel rewrites the packets; no proxy process copies bytes.  man 8 nft"""
import json
import os
import subprocess

from pocketbox import explain
from pocketbox.errors import PocketboxError
from pocketbox.network.ports import Binding

TABLE = "ip pocketbox"
SKELETON = f"""add table {TABLE}
add chain {TABLE} prerouting {{ type nat hook prerouting priority dstnat; policy accept; }}
add chain {TABLE} output {{ type nat hook output priority -100; policy accept; }}
add chain {TABLE} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
add chain {TABLE} published
add chain {TABLE} outbound
flush chain {TABLE} prerouting
flush chain {TABLE} output
flush chain {TABLE} postrouting
add rule {TABLE} prerouting fib daddr type local jump published
add rule {TABLE} output fib daddr type local jump published
add rule {TABLE} postrouting jump outbound
"""


class NatError(PocketboxError):
    pass


def available() -> bool:
    return any(os.access(os.path.join(d, "nft"), os.X_OK) for d in os.environ.get("PATH", os.defpath).split(":"))


def _nft(script: str, *args: str) -> str:
    """Run one nft transaction (all of it or nothing)."""
    if not available():
        raise NatError("nft (nftables) is not installed: published ports need it (apt-get install nftables)")
    r = subprocess.run(["nft", *args, "-f", "-"] if script else ["nft", *args], input=script.encode(),
                       capture_output=True)
    if r.returncode != 0:
        errors = [line for line in r.stderr.decode().splitlines() if "Error" in line] or [f"exit {r.returncode}"]
        raise NatError(f"nft failed: {errors[0]}")
    return r.stdout.decode()


def _dnat_rule(b: Binding, container_ip: str, owner: str) -> str:
    match = f"ip daddr {b.host_ip} " if b.host_ip not in ("", "0.0.0.0") else ""
    return (f"add rule {TABLE} published {match}{b.protocol} dport {b.host_port} "
            f"dnat to {container_ip}:{b.container_port} comment \"{owner}\"")


def publish(bindings: list[Binding], container_ip: str, owner: str) -> None:
    """DNAT each host port to the container's address, in one transaction."""
    rules = [_dnat_rule(b, container_ip, owner) for b in bindings]
    _nft(SKELETON + "\n".join(rules) + "\n")
    for b, rule in zip(bindings, rules):
        explain.emit("nat", f"publish {b.shown_ip()}:{b.host_port} -> {container_ip}:{b.container_port}/{b.protocol}",
                     f"nft {rule}", "man 8 nft")


def masquerade(subnet: str, bridge: str, owner: str) -> None:
    """Outbound traffic of the network leaves with the host's address; 127.0.0.1 -> container works."""
    rules = {f"add rule {TABLE} outbound ip saddr {subnet} oifname != \"{bridge}\" masquerade comment \"{owner}\"":
             f"traffic from {subnet} to the outside leaves with this host's address",
             f"add rule {TABLE} outbound ip saddr 127.0.0.0/8 oifname \"{bridge}\" masquerade comment \"{owner}\"":
             f"traffic from 127.0.0.1 to a published port enters {bridge} with the gateway's address"}
    _nft(SKELETON + "\n".join(rules) + "\n")
    for rule, what in rules.items():
        explain.emit("nat", what, f"nft {rule}", "man 8 nft")


def rules(chain: str) -> list[dict]:
    """The rules of one of our chains, with their handles and comments (nft -j -a list chain)."""
    try:
        out = _nft("", "-j", "-a", "list", "chain", *TABLE.split(), chain)
    except NatError:
        return []  # no table (never used, or after a reboot): nothing of ours to remove
    return [item["rule"] for item in json.loads(out).get("nftables", []) if "rule" in item]


def remove(owner: str, chain: str = "published") -> int:
    """Delete every rule of `owner` (a container or network ID) from the chain; returns how many."""
    handles = [r["handle"] for r in rules(chain) if r.get("comment") == owner]
    if handles:
        _nft("".join(f"delete rule {TABLE} {chain} handle {h}\n" for h in handles))
        explain.emit("cleanup", f"remove {len(handles)} NAT rule(s) of {owner[:12]}",
                     f"nft delete rule {TABLE} {chain} handle {', '.join(map(str, handles))}", "man 8 nft")
    return len(handles)
