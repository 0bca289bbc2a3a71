"""POST /containers/create's body (Config, HostConfig, NetworkingConfig) as the engine's RunOptions:
the API is one more way to write the `run` flags, checked by the same code."""
from pocketbox.engine.options import RunOptions


def _cmd(value) -> list[str] | None:
    if value is None:
        return None
    return [value] if isinstance(value, str) else [str(v) for v in value]


def _publish(bindings: dict) -> list[str]:
    """PortBindings as -p specs: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]} -> 8080:80/tcp."""
    out = []
    for key, hosts in (bindings or {}).items():
        port, _, proto = key.partition("/")
        for b in hosts or [{}]:
            ip, host = (b or {}).get("HostIp") or "", (b or {}).get("HostPort") or ""
            ip = f"[{ip}]" if ":" in ip else ip
            spec = f"{ip}:{host}:{port}" if ip else (f"{host}:{port}" if host else port)
            out.append(f"{spec}/{proto or 'tcp'}")
    return out


def _mount(m: dict) -> str:
    """HostConfig.Mounts entry as a --mount spec."""
    parts = [f"type={m.get('Type', 'volume')}", f"target={m.get('Target', '')}"]
    if m.get("Source"):
        parts.append(f"source={m['Source']}")
    if m.get("ReadOnly"):
        parts.append("readonly")
    tmpfs = m.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        parts.append(f"tmpfs-size={tmpfs['SizeBytes']}")
    if tmpfs.get("Mode"):
        parts.append(f"tmpfs-mode={tmpfs['Mode']:o}")
    if (m.get("VolumeOptions") or {}).get("NoCopy"):
        parts.append("volume-nocopy")
    return ",".join(parts)


def run_options(body: dict, name: str | None) -> RunOptions:
    config = body
    host = body.get("HostConfig") or {}
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    network = host.get("NetworkMode") or "default"
    network = "bridge" if network == "default" else network
    ip = ((endpoints.get(network) or endpoints.get("default") or {}).get("IPAMConfig") or {}).get("IPv4Address")
    restart = host.get("RestartPolicy") or {}
    restart_text = restart.get("Name") or "no"
    if restart_text == "on-failure" and restart.get("MaximumRetryCount"):
        restart_text += f":{restart['MaximumRetryCount']}"
    log = host.get("LogConfig") or {}
    check = config.get("Healthcheck")
    entrypoint = _cmd(config.get("Entrypoint"))
    attach = [s for s, on in (("stdin", config.get("AttachStdin")), ("stdout", config.get("AttachStdout")),
                              ("stderr", config.get("AttachStderr"))) if on]
    return RunOptions(
        image=config.get("Image") or "", command=_cmd(config.get("Cmd")) or [],
        entrypoint=None if entrypoint is None else [e for e in entrypoint if e != ""] if entrypoint != [""] else [],
        env=list(config.get("Env") or []), workdir=config.get("WorkingDir") or None, user=config.get("User") or None,
        hostname=config.get("Hostname") or None, name=name, remove=bool(host.get("AutoRemove")),
        detach=not attach, interactive=bool(config.get("OpenStdin")), tty=bool(config.get("Tty")),
        network=network, ip=ip, volumes=list(host.get("Binds") or []),
        mounts=[_mount(m) for m in host.get("Mounts") or []],
        tmpfs=[f"{path}:{opts}" if opts else path for path, opts in (host.get("Tmpfs") or {}).items()],
        volumes_from=list(host.get("VolumesFrom") or []), read_only=bool(host.get("ReadonlyRootfs")),
        cap_add=list(host.get("CapAdd") or []), cap_drop=list(host.get("CapDrop") or []),
        privileged=bool(host.get("Privileged")), security_opt=list(host.get("SecurityOpt") or []),
        memory=str(host["Memory"]) if host.get("Memory") else None,
        memory_swap=str(host["MemorySwap"]) if host.get("MemorySwap") else None,
        memory_reservation=str(host["MemoryReservation"]) if host.get("MemoryReservation") else None,
        cpus=str(host["NanoCpus"] / 1e9) if host.get("NanoCpus") else None,
        cpu_shares=host.get("CpuShares") or None, cpu_period=host.get("CpuPeriod") or None,
        cpu_quota=host.get("CpuQuota") or None, cpuset_cpus=host.get("CpusetCpus") or None,
        cpuset_mems=host.get("CpusetMems") or None, pids_limit=host.get("PidsLimit") or None,
        oom_kill_disable=bool(host.get("OomKillDisable")), restart=restart_text,
        publish=_publish(host.get("PortBindings")), publish_all=bool(host.get("PublishAllPorts")),
        expose=[k for k in (config.get("ExposedPorts") or {})],
        devices=[f"{d['PathOnHost']}:{d.get('PathInContainer') or d['PathOnHost']}:{d.get('CgroupPermissions') or 'rwm'}"
                 for d in host.get("Devices") or []],
        userns=host.get("UsernsMode") or "host", group_add=list(host.get("GroupAdd") or []),
        labels=[f"{k}={v}" for k, v in (config.get("Labels") or {}).items()],
        add_host=list(host.get("ExtraHosts") or []), dns=list(host.get("Dns") or []),
        dns_search=list(host.get("DnsSearch") or []), dns_option=list(host.get("DnsOptions") or []),
        init=bool(host.get("Init")), ulimit=[f"{u['Name']}={u['Soft']}:{u['Hard']}" for u in host.get("Ulimits") or []],
        stop_signal=config.get("StopSignal") or None, stop_timeout=config.get("StopTimeout"),
        shm_size=str(host["ShmSize"]) if host.get("ShmSize") else None,
        pid=host.get("PidMode") or None, ipc=host.get("IpcMode") or None, uts=host.get("UTSMode") or None,
        sysctl=[f"{k}={v}" for k, v in (host.get("Sysctls") or {}).items()],
        log_driver=log.get("Type") or None, log_opt=[f"{k}={v}" for k, v in (log.get("Config") or {}).items()],
        attach=[] if not attach or len(attach) == 3 or attach == ["stdout", "stderr"] else attach,
        healthcheck=check if check else None,
    )


def extra_endpoints(body: dict, network: str) -> dict:
    """NetworkingConfig.EndpointsConfig as pocketbox records it (aliases, and networks beyond the
    first, which every start then joins)."""
    endpoints = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    out = {}
    for name, config in endpoints.items():
        name = network if name == "default" else name
        config = config or {}
        entry = {"Aliases": config.get("Aliases") or None}
        if (config.get("IPAMConfig") or {}).get("IPv4Address"):
            entry["IPAMConfig"] = {"IPv4Address": config["IPAMConfig"]["IPv4Address"]}
        out[name] = entry
    return out
