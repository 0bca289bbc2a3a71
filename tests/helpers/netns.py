"""The machine's network rule for tests and benchmarks: they run in a network namespace of their
own, so every bridge, veth, NAT rule and sysctl they cause lives and dies there, and the
registry they use listens on that namespace's 127.0.0.1. Only fetching packages to build test
images (debootstrap, pip download: the Debian and PyPI registries) goes back to the machine's
own namespace, through in_host_network()."""
import os
import subprocess

HOST_NETNS = "POCKETBOX_HOST_NETNS"


def own_network_namespace() -> None:
    """Move this process (before it starts threads) into a new network namespace with lo up and
    forwarding on; remember the machine's namespace for in_host_network()."""
    from pocketbox import syscalls

    if HOST_NETNS not in os.environ:
        host = os.open("/proc/self/ns/net", os.O_RDONLY)  # kept open: /proc/PID/fd/N names it
        os.environ[HOST_NETNS] = f"/proc/{os.getpid()}/fd/{host}"
    syscalls.unshare(syscalls.CLONE_NEWNET)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # this namespace's, not the machine's
        f.write("1")


def in_host_network(argv: list[str]) -> list[str]:
    """argv to run in the machine's own network namespace (to download packages)."""
    path = os.environ.get(HOST_NETNS)
    return ["nsenter", f"--net={path}", *argv] if path else list(argv)
