"""The run flags that shape the container's process and namespaces rather than its files:
--ulimit, --sysctl, --pid/--ipc/--uts, --add-host, --dns*, --shm-size. Each is checked the way
Docker checks it, and turned into what the record (HostConfig) and the bundle (runtime-spec) hold."""
import re

from pocketbox.engine.options import InvalidOption, parse_bytes

RLIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack")
# sysctls that belong to a namespace the container has of its own (Docker's and runc's lists)
IPC_SYSCTLS = {"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
               "kernel.shmmni", "kernel.shm_rmid_forced"}
SYSCTL_NAME = re.compile(r"[a-z0-9_]+(\.[a-z0-9_-]+)+\Z")
DEFAULT_SHM = 64 * 1024 * 1024


def ulimits(items: list[str]) -> list[dict]:
    """--ulimit nofile=1024[:2048] -> HostConfig.Ulimits ([{"Name", "Soft", "Hard"}]); -1 is unlimited."""
    out: dict[str, dict] = {}
    for item in items:
        name, sep, values = item.partition("=")
        if not sep:
            raise InvalidOption(f'invalid argument "{item}" for "--ulimit" flag: invalid ulimit argument: {item}')
        if name not in RLIMITS:
            raise InvalidOption(f'invalid argument "{item}" for "--ulimit" flag: invalid ulimit type: {name}')
        soft_text, _, hard_text = values.partition(":")
        try:
            soft = int(soft_text)
            hard = int(hard_text) if hard_text else soft
        except ValueError:
            raise InvalidOption(f'invalid argument "{item}" for "--ulimit" flag: invalid ulimit value: '
                                f"{values}") from None
        if soft > hard and hard != -1 or soft == -1 and hard != -1:
            raise InvalidOption(f'invalid argument "{item}" for "--ulimit" flag: ulimit soft limit must be less '
                                f"than or equal to hard limit: {soft} > {hard}")
        out[name] = {"Hard": hard, "Name": name, "Soft": soft}  # (the order Docker's inspect shows)
    return list(out.values())


def rlimits(limits: list[dict]) -> list[dict]:
    """HostConfig.Ulimits as runtime-spec process.rlimits (-1: RLIM_INFINITY)."""
    infinity = 2**64 - 1
    return [{"type": f"RLIMIT_{u['Name'].upper()}", "soft": infinity if u["Soft"] == -1 else u["Soft"],
             "hard": infinity if u["Hard"] == -1 else u["Hard"]} for u in limits]


def sysctls(items: list[str], network: str, ipc: str) -> dict[str, str]:
    """--sysctl KEY=VALUE: only those the container's own namespaces hold (net.* without host
    networking, IPC ones without a host IPC namespace, fs.mqueue.*), as Docker allows."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not SYSCTL_NAME.match(key):
            raise InvalidOption(f'invalid argument "{item}" for "--sysctl" flag: sysctl \'{item}\' is not allowed')
        if key.startswith("net."):
            if network == "host":
                raise InvalidOption(f'sysctl "{key}" not allowed in host network namespace')
            if network.startswith("container:"):
                raise InvalidOption(f'sysctl "{key}" is not allowed with --network {network}: the namespace is '
                                    "another container's")
        elif key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if ipc == "host" or ipc.startswith("container:"):
                raise InvalidOption(f'sysctl "{key}" is not allowed with --ipc {ipc}')
        else:
            raise InvalidOption(f'invalid argument "{item}" for "--sysctl" flag: sysctl \'{key}\' is not allowed')
        out[key] = value
    return out


def namespace_mode(value: str | None, what: str, allowed: tuple[str, ...]) -> str:
    """--pid / --ipc / --uts: "" (the container's own), host, container:NAME, and for IPC private,
    shareable and none."""
    value = value or ""
    if value in allowed or (value.startswith("container:") and "container:" in allowed and value[10:]):
        return value
    raise InvalidOption(f"invalid {what} mode: {value}")


def extra_hosts(items: list[str], gateway: str | None) -> list[str]:
    """--add-host NAME:IP (or NAME=IP); host-gateway is the default bridge's gateway."""
    out = []
    for item in items:
        sep = "=" if "=" in item else ":"
        name, found, ip = item.partition(sep)
        if not found or not name:
            raise InvalidOption(f'invalid argument "{item}" for "--add-host" flag: bad format for add-host: '
                                f'"{item}"')
        import ipaddress

        if ip == "host-gateway":
            if not gateway:
                raise InvalidOption("unable to derive the IP value for host-gateway")
            ip = gateway
        else:
            try:
                ip = str(ipaddress.ip_address(ip.strip("[]")))
            except ValueError:
                raise InvalidOption(f'invalid argument "{item}" for "--add-host" flag: invalid IP address in '
                                    f'add-host: "{ip}"') from None
        out.append(f"{name}:{ip}")
    return out


def dns_servers(items: list[str]) -> list[str]:
    import ipaddress

    for ip in items:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidOption(f'invalid argument "{ip}" for "--dns" flag: {ip} is not an ip address') from None
    return list(items)


def resolv_conf(host_text: str, servers: list[str], search: list[str], options: list[str]) -> str:
    """The container's resolv.conf: the host's (already filtered), with --dns, --dns-search and
    --dns-option replacing its nameserver, search and options lines, in Docker's layout."""
    if not (servers or search or options):
        return host_text
    lines = host_text.splitlines()
    kept_servers = [line.split()[1] for line in lines if line.split()[:1] == ["nameserver"] and len(line.split()) > 1]
    kept_search = next((line.split()[1:] for line in lines if line.split()[:1] in (["search"], ["domain"])), [])
    kept_options = [o for line in lines if line.split()[:1] == ["options"] for o in line.split()[1:]]
    search = [s for s in search if s != "."] if search else kept_search
    text = "".join(f"nameserver {s}\n" for s in (servers or kept_servers))
    text += f"search {' '.join(search)}\n" if search else ""
    opts = options or kept_options
    return text + (f"options {' '.join(opts)}\n" if opts else "")


def shm_size(value: str | None) -> int:
    if value is None:
        return DEFAULT_SHM
    size = parse_bytes(value, "--shm-size")
    if size <= 0:
        raise InvalidOption("SHM size can not be less than 0")
    return size
