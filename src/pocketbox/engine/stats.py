"""`stats` and `top`: a running container's resource use, read from its cgroup and its processes.

sample() returns Docker's stats document (what the Engine API's /containers/ID/stats sends);
row() turns two samples into the columns `docker stats` prints, computed as the Docker CLI does:
CPU % is the container's CPU time over the host's in the same interval, times the CPUs."""
import os

from pocketbox.errors import Conflict, PocketboxError


def _host_cpu_ns() -> int:
    """All CPU time of the host so far (the first line of /proc/stat), in nanoseconds."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:9]
    return sum(int(x) for x in fields) * (1_000_000_000 // os.sysconf("SC_CLK_TCK"))


def _memory_total() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _networks(pid: int) -> dict:
    """Bytes and packets per interface of the container's network namespace (/proc/PID/net/dev)."""
    out = {}
    try:
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.read().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        v = [int(x) for x in rest.split()]
        if name.strip() != "lo" and len(v) >= 16:
            out[name.strip()] = {"rx_bytes": v[0], "rx_packets": v[1], "rx_errors": v[2], "rx_dropped": v[3],
                                 "tx_bytes": v[8], "tx_packets": v[9], "tx_errors": v[10], "tx_dropped": v[11]}
    return out


def sample(record: dict) -> dict:
    """Docker's stats document for one moment (zeros for a container that is not running)."""
    from pocketbox.engine.containers import Containers, now

    running = record["State"]["Status"] in ("running", "paused")
    usage = Containers().cgroup(record["Id"]).usage() if running else {}
    limit = usage.get("memory_limit") or _memory_total()
    return {
        "read": now(), "id": record["Id"], "name": record["Name"],
        "pids_stats": {"current": usage.get("pids", 0), **({"limit": usage["pids_limit"]}
                                                           if usage.get("pids_limit") else {})},
        "cpu_stats": {"cpu_usage": {"total_usage": usage.get("cpu_ns", 0)},
                      "system_cpu_usage": _host_cpu_ns(), "online_cpus": os.cpu_count() or 1},
        "memory_stats": {"usage": usage.get("memory", 0), "limit": limit, "stats": usage.get("memory_stat", {})}
        if running else {},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": usage.get("io_read", 0)},
            {"major": 0, "minor": 0, "op": "write", "value": usage.get("io_write", 0)}] if running else None},
        "networks": _networks(record["State"]["Pid"]) if running else {},
    }


def row(before: dict, after: dict) -> dict:
    """The Docker CLI's numbers from two samples: CPUPerc, MemUsage, MemLimit, MemPerc, NetRx/Tx,
    BlockRead/Write, PIDs."""
    cpu = after["cpu_stats"]["cpu_usage"]["total_usage"] - before["cpu_stats"]["cpu_usage"]["total_usage"]
    system = after["cpu_stats"]["system_cpu_usage"] - before["cpu_stats"]["system_cpu_usage"]
    cpu_percent = cpu / system * after["cpu_stats"]["online_cpus"] * 100 if cpu > 0 and system > 0 else 0.0
    memory = after["memory_stats"]
    stat = memory.get("stats") or {}
    # the page cache the kernel may drop is not counted: v1's total_inactive_file, v2's inactive_file
    used = memory.get("usage", 0) - stat.get("total_inactive_file", stat.get("inactive_file", 0))
    used = max(used, 0)
    limit = memory.get("limit", 0)
    io = after["blkio_stats"]["io_service_bytes_recursive"] or []
    nets = after["networks"].values()
    return {"CPUPerc": cpu_percent, "MemUsage": used, "MemLimit": limit,
            "MemPerc": used / limit * 100 if limit else 0.0,
            "NetRx": sum(n["rx_bytes"] for n in nets), "NetTx": sum(n["tx_bytes"] for n in nets),
            "BlockRead": sum(e["value"] for e in io if e["op"] == "read"),
            "BlockWrite": sum(e["value"] for e in io if e["op"] == "write"),
            "PIDs": after["pids_stats"].get("current", 0)}


def processes(engine, ref: str, ps_args: list[str]) -> tuple[list[str], list[list[str]]]:
    """`top`: the host's `ps` (default -ef), only the lines of the container's processes; Docker's
    split: titles, and each process's fields (the last title takes the rest of the line)."""
    import subprocess

    record = engine.find(ref)
    if record["State"]["Status"] not in ("running", "paused"):
        raise Conflict(f"Container {record['Id']} is not running")
    pids = set(engine.cgroup(record["Id"]).pids())
    try:
        result = subprocess.run(["ps", *(ps_args or ["-ef"])], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        raise PocketboxError("ps is not installed on this host (Debian: apt-get install procps)") from None
    if result.returncode != 0:
        raise PocketboxError(f"Error running ps: {result.stderr.strip() or result.stdout.strip()}")
    lines = result.stdout.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise PocketboxError("Couldn't find PID field in ps output")
    at, n = titles.index("PID"), len(titles)
    rows = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > at and fields[at].isdigit() and int(fields[at]) in pids:
            rows.append(fields[:n - 1] + [" ".join(fields[n - 1:])])
    return titles, rows

