"""`update`: change a container's resource limits and restart policy after it was made.

The record (HostConfig), the bundle (linux.resources, read by every later start) and, when the
container runs, its cgroup files are changed together, under the container's lock; a limit the
kernel refuses leaves the record and bundle as they were."""
from pocketbox.engine import options as opt
from pocketbox.engine.containers import Containers
from pocketbox.state import read_json, write_json_atomic


def update_container(ref: str, changes: dict, engine: Containers | None = None) -> dict:
    """`changes`: the flags given (None for the others): cpus, cpu_shares, cpu_period, cpu_quota,
    cpuset_cpus, cpuset_mems, memory, memory_reservation, memory_swap, pids_limit, restart."""
    engine = engine or Containers()
    cid = engine.find(ref)["Id"]
    with engine.lock(cid):
        record = engine.load(cid)
        host = record["HostConfig"]
        o = opt.RunOptions(memory=changes.get("memory"), memory_swap=changes.get("memory_swap"),
                           cpus=changes.get("cpus"), cpu_period=changes.get("cpu_period"),
                           cpu_quota=changes.get("cpu_quota"))
        memory, swap = opt.memory_limits(o) if o.memory or o.memory_swap else (None, None)
        if o.memory_swap and not o.memory:
            raise opt.InvalidOption("You should always set the Memory limit when using Memoryswap limit, see usage")
        quota, period = opt.cpu_quota(o) if (o.cpus or o.cpu_period or o.cpu_quota) else (None, None)
        shares = opt.cpu_shares(changes.get("cpu_shares"))
        pids = opt.pids_limit(changes.get("pids_limit"))
        cpus_set = opt.cpuset(changes.get("cpuset_cpus"), "--cpuset-cpus", opt.online("cpu"))
        mems_set = opt.cpuset(changes.get("cpuset_mems"), "--cpuset-mems", opt.online("node"))
        reservation = opt.parse_bytes(changes["memory_reservation"], "--memory-reservation") \
            if changes.get("memory_reservation") else None
        limit_now = memory if memory is not None else host.get("Memory") or None
        if reservation and limit_now and reservation > limit_now:
            raise opt.InvalidOption("Minimum memory limit can not be less than memory reservation limit, see usage")
        restart = opt.parse_restart(changes["restart"]) if changes.get("restart") else None
        if restart and restart["Name"] != "no" and host.get("AutoRemove"):
            raise opt.InvalidOption("Restart policy cannot be updated because AutoRemove is enabled for the "
                                    "container")
        if memory is not None and not o.memory_swap and memory > (host.get("MemorySwap") or 0):
            raise opt.InvalidOption("Memory limit should be smaller than already set memoryswap limit, update the "
                                    "memoryswap at the same time")  # (Docker's rule, even for no limit yet)
        if memory is not None and swap is None:
            swap = host.get("MemorySwap") or None

        bundle_path = engine.dir(cid) / "config.json"
        spec = read_json(bundle_path)
        resources = spec["linux"].setdefault("resources", {})
        mem = resources.setdefault("memory", {})
        cpu = resources.setdefault("cpu", {})
        for section, key, value in (("memory", "limit", memory), ("memory", "swap", swap),
                                    ("memory", "reservation", reservation), ("cpu", "quota", quota),
                                    ("cpu", "period", period), ("cpu", "shares", shares), ("cpu", "cpus", cpus_set),
                                    ("cpu", "mems", mems_set)):
            if value is not None:
                (mem if section == "memory" else cpu)[key] = value
        if pids is not None:
            resources["pids"] = {"limit": pids}
        if record["State"]["Status"] in ("running", "paused"):
            from pocketbox.runtime.cgroups import Limits

            try:
                engine.cgroup(cid).update(Limits(
                    memory=memory, memory_swap=swap if memory is not None else None, cpu_quota=quota,
                    cpu_period=period, cpu_shares=shares, pids_limit=pids, cpuset_cpus=cpus_set,
                    cpuset_mems=mems_set, memory_reservation=reservation, devices=[]))
            except OSError as e:
                raise opt.InvalidOption(f"Cannot update container {cid}: {e.strerror}: {e.filename}") from None
        write_json_atomic(bundle_path, spec, mode=0o600, durable=False)
        for key, value in (("Memory", memory), ("MemorySwap", swap), ("MemoryReservation", reservation),
                           ("CpuShares", shares), ("PidsLimit", pids), ("CpusetCpus", cpus_set),
                           ("CpusetMems", mems_set), ("RestartPolicy", restart)):
            if value is not None:
                host[key] = value
        if o.cpus:
            host.update(NanoCpus=int(float(o.cpus) * 1e9), CpuQuota=0, CpuPeriod=0)
        elif quota is not None or period is not None:
            host.update(NanoCpus=0, **({"CpuQuota": quota} if quota is not None else {}),
                        **({"CpuPeriod": period} if period is not None else {}))
        engine.save(record)
    from pocketbox import events

    events.container("update", record)
    return record
