"""Containers: create a record and its bundle, run it, list, inspect, remove, prune.

Layout under the state root:
    containers/<id>/container.json   the record (what `inspect` shows; Docker's field names)
    containers/<id>/config.json      the OCI bundle's config (what the runtime executes)
    containers/<id>/rootfs/          mount point of the overlay (mounted only inside the container)
    containers/<id>/upper/ work/     the container's own writable layer
    containers/<id>/hostname hosts resolv.conf
    names/<name>                     the name -> ID reservation (created with O_EXCL: no two owners)
The record says what pocketbox knows; whether a process is still alive is asked of the kernel
(pid + its start time) every time a record is read."""
import fcntl
import os
import posixpath
import re
import time
from contextlib import contextmanager
from pathlib import Path

from pocketbox import events
from pocketbox.errors import Conflict, NotFound, PocketboxError
from pocketbox.image.store import Store
from pocketbox.locks import locked, open_lock, try_lock
from pocketbox.logs import LogWriter
from pocketbox.processes import process_alive, process_start_time  # noqa: F401 (used by the other engine modules)
from pocketbox.runtime.cgroups import PARENT as CGROUPS_PARENT  # the engine puts containers at /pocketbox/<id>
from pocketbox.state import ensure_dir, read_json, remove_tree, write_json_atomic

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+\Z")  # Docker's: two characters at least
LOST_EXIT_CODE = 255
_HELD: set[str] = set()  # container locks this process holds (flock is per open file: no re-taking)
STOPPED_NETWORK = {"SandboxKey": "", "IPAddress": "", "IPPrefixLen": 0, "Gateway": "", "MacAddress": "", "Bridge": "",
                   "Ports": {}, "Networks": {}}  # Docker's, once stopped


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{int(time.time() * 1e9) % 10**9:09d}Z"


class Containers:
    def __init__(self, store: Store | None = None):
        self.store = store or Store.open()
        self.root = self.store.root / "containers"
        self.names = self.store.root / "names"

    # --- records ------------------------------------------------------------------------------
    def dir(self, cid: str) -> Path:
        return self.root / cid

    @property
    def runtime_root(self) -> str:
        """The runtime's record of the containers running now (`pocketbox-runc --root` it)."""
        return str(self.store.root / "runtime")

    def cgroup(self, cid: str):
        """The container's cgroup, where its bundle (linux.cgroupsPath) puts it."""
        from pocketbox.runtime.run import bundle_cgroup

        return bundle_cgroup(str(self.dir(cid)), cid)

    @contextmanager
    def lock(self, cid: str):
        """The container's lock (flock); taken again inside, it is already held (re-entrant)."""
        path = str(self.store.root / "locks" / f"container-{cid}.lock")
        if path in _HELD:
            yield
            return
        with locked(Path(path)):
            _HELD.add(path)
            try:
                yield
            finally:
                _HELD.discard(path)

    def load(self, cid: str) -> dict | None:
        return read_json(self.dir(cid) / "container.json")

    def save(self, record: dict) -> None:
        write_json_atomic(self.dir(record["Id"]) / "container.json", record, mode=0o644, durable=False)

    def update(self, cid: str, change) -> dict | None:
        """Apply `change(record)` under the container's lock; None if the record is gone (removed)."""
        with self.lock(cid):
            record = self.load(cid)
            if record is None:
                return None
            change(record)
            self.save(record)
            return record

    def all(self) -> list[dict]:
        if not self.root.is_dir():
            return []
        out = []
        for p in self.root.iterdir():
            rec = read_json(p / "container.json")
            if rec:
                out.append(self.refresh(rec))
        out.sort(key=lambda r: r["Created"], reverse=True)
        return out

    def find(self, ref: str) -> dict:
        """By name, full ID or unique ID prefix, as Docker resolves them."""
        name = ref.lstrip("/")
        name_file = self.names / name
        if NAME_RE.match(name) and name_file.exists():
            rec = self.load(name_file.read_text().strip())
            if rec:
                return self.refresh(rec)
            self._take_back_orphan(name)
        if re.fullmatch(r"[0-9a-f]{1,64}", ref) and self.root.is_dir():
            matches = [p.name for p in self.root.iterdir() if p.name.startswith(ref)]
            if len(matches) > 1:
                raise Conflict(f"multiple IDs found with provided prefix: {ref}")
            if matches:
                rec = self.load(matches[0])
                if rec:
                    return self.refresh(rec)
        raise NotFound(f"No such container: {ref}")

    def refresh(self, record: dict) -> dict:
        """A record that says running whose process is gone (pocketbox was killed) becomes exited."""
        state = record["State"]
        if state["Status"] == "restarting" and not process_alive(state.get("ShimPid", 0), state.get("ShimStartTime")):
            record = self.update(record["Id"], lambda r: r["State"].update(Status="exited", Restarting=False)) or record
        elif state["Status"] in ("running", "paused") and not process_alive(state.get("Pid", 0), state.get("PidStartTime")) \
                and not process_alive(state.get("ShimPid", 0), state.get("ShimStartTime")):  # a live supervisor records it
            def lost(r):
                r["State"].update(Status="exited", Running=False, Paused=False, Pid=0, ExitCode=LOST_EXIT_CODE,
                                  FinishedAt=now(),
                                  Error="the container's process ended while no pocketbox process was watching it")
            self.cgroup(record["Id"]).destroy()
            self.disconnect(record)
            record = self.update(record["Id"], lost) or record
        return record

    # --- create -------------------------------------------------------------------------------
    def create(self, o, image: dict) -> dict:
        """Check every flag (`o` is an options.RunOptions), then write the record and bundle;
        on failure nothing is left behind."""
        from pocketbox.engine import options as opt, spec as specs, users
        from pocketbox.runtime import capabilities

        memory, swap = opt.memory_limits(o)
        restart = opt.parse_restart(o.restart)
        if restart["Name"] != "no" and o.remove:
            raise opt.InvalidOption("Conflicting options: --restart and --rm")
        quota, period = opt.cpu_quota(o)
        o.cpu_shares, o.pids_limit = opt.cpu_shares(o.cpu_shares), opt.pids_limit(o.pids_limit)
        config = dict(image.get("Config") or {})
        self._check_stop_signal(o, config)
        extra = self._process_settings(o, config, memory)
        share_from, bindings = self._check_network(o, config)
        requests = ([opt.parse_volume(v) for v in o.volumes] + [opt.parse_mount(m) for m in o.mounts]
                    + [opt.parse_tmpfs(t) for t in o.tmpfs] + self._volumes_from(o.volumes_from))
        targets = [m.destination for m in requests]
        if len(set(targets)) != len(targets):
            raise opt.InvalidOption(f"duplicate mount point: {sorted(t for t in targets if targets.count(t) > 1)[0]}")
        for dest in sorted(config.get("Volumes") or {}):  # the image's VOLUMEs: an anonymous volume each
            if isinstance(dest, str) and dest.startswith("/") and posixpath.normpath(dest) not in \
                    {posixpath.normpath(t) for t in targets}:
                requests.append(opt.MountSpec("volume", None, opt.check_target(dest, f"VOLUME {dest}")))
        env = opt.parse_env_files(o.env_files) + opt.expand_env(o.env)
        no_new_privs, seccomp_opt = False, None
        for s in o.security_opt:
            if s in ("no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"):
                no_new_privs = True
            elif s.startswith(("seccomp=", "seccomp:")):
                seccomp_opt = s[len("seccomp="):]
            elif s not in ("no-new-privileges:false", "no-new-privileges=false"):
                raise opt.InvalidOption(f"invalid --security-opt: {s!r} (pocketbox knows no-new-privileges, "
                                        "seccomp=unconfined|PROFILE.json)")
        try:
            caps = capabilities.resolve(o.cap_add, o.cap_drop, o.privileged)
        except ValueError as e:
            raise opt.InvalidOption(str(e)) from None
        seccomp = self._seccomp(seccomp_opt, caps, o.privileged)
        devices = [opt.parse_device(d) for d in o.devices]
        id_maps = self._user_namespace(o)
        if o.name is not None and not NAME_RE.match(o.name):
            raise opt.InvalidOption(f'Invalid container name ({o.name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed')
        args = specs.command_line(config, o.command, o.entrypoint)
        if not args:
            raise PocketboxError("no command specified")

        if o.cidfile and os.path.exists(o.cidfile):
            raise opt.InvalidOption(f"Container ID file found, make sure the other container isn't running or "
                                    f"delete {o.cidfile}")
        cid = os.urandom(32).hex()
        name = self._reserve_name(o.name, cid)
        cdir = self.dir(cid)
        creating = open_lock(self.store.root / "locks" / f"container-{cid}.lock")  # orphans are told apart by it
        try:
            ensure_dir(self.root)
            os.mkdir(cdir, 0o700)
            for d in ("rootfs", "upper", "work"):
                os.mkdir(cdir / d, 0o755)
                if id_maps:  # what the container's root writes is owned by its host uid
                    os.chown(cdir / d, id_maps[0]["hostID"], id_maps[0]["hostID"])
            lowers = [str(self.store.layer_dir(layer["ChainID"]) / "diff") for layer in reversed(image["Layers"])]
            user = users.resolve(o.user or config.get("User") or None, [str(cdir / "upper")] + lowers, o.group_add)
            if share_from:  # --network container:NAME: its hostname and /etc files, as Docker does
                hostname, etc_dir = share_from["Config"]["Hostname"], self.dir(share_from["Id"])
            else:
                hostname = o.hostname or (os.uname().nodename if "host" in (o.network, extra["UTSMode"])
                                          else cid[:12])
                etc_dir = cdir
                self._write_etc_files(cdir, hostname, o.network, extra)
            overlay = f"lowerdir={':'.join(lowers)},upperdir={cdir / 'upper'},workdir={cdir / 'work'}"
            if len(overlay) > 4000:
                raise PocketboxError(f"the image has too many layers ({len(lowers)}) for one overlay mount")
            mounts, mount_records, copy_up = self._resolve_mounts(requests)
            resources = {}
            if memory is not None or extra["MemoryReservation"] or extra["OomKillDisable"]:
                resources["memory"] = {**({"limit": memory} if memory is not None else {}),
                                       **({"swap": swap} if swap is not None else {}),
                                       **({"reservation": extra["MemoryReservation"]}
                                          if extra["MemoryReservation"] else {}),
                                       **({"disableOOMKiller": True} if extra["OomKillDisable"] else {})}
            cpu = {"quota": quota, "period": period, "shares": o.cpu_shares, "cpus": extra["CpusetCpus"],
                   "mems": extra["CpusetMems"]}
            if any(v is not None for v in cpu.values()):
                resources["cpu"] = {k: v for k, v in cpu.items() if v is not None}
            if o.pids_limit is not None:
                resources["pids"] = {"limit": o.pids_limit}
            if o.privileged:
                resources["devices"] = [{"allow": True, "access": "rwm"}]
            elif devices:  # Docker's default rules stay; these are added
                resources["devices"] = [{"allow": True, "type": d["type"], "major": d["major"], "minor": d["minor"],
                                         "access": d["CgroupPermissions"]} for d in devices]
            cwd = o.workdir or config.get("WorkingDir") or "/"
            if not cwd.startswith("/"):
                raise opt.InvalidOption(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
            bundle = specs.build(
                args=args, env=specs.environment(config.get("Env") or [], env, hostname, user.home, o.tty),
                cwd=cwd, user=user, hostname=hostname, tty=o.tty, stdin_open=o.interactive, caps=caps,
                no_new_privs=no_new_privs, read_only=o.read_only,
                mounts=specs.default_mounts(str(etc_dir), mounts, extra["ShmSize"], extra["IpcMode"]),
                seccomp=seccomp, network=o.network, netns=None if o.network == "none" else str(cdir / "netns"),
                resources=resources, overlay=overlay, privileged=o.privileged, copy_up=copy_up,
                cgroups_path=f"/{CGROUPS_PARENT}/{cid}",
                shared=self._shared_namespaces(extra), rlimits=extra["rlimits"], sysctl=extra["Sysctls"],
                init=o.init)
            if id_maps:
                bundle["linux"]["namespaces"].append({"type": "user"})
                bundle["linux"]["uidMappings"] = bundle["linux"]["gidMappings"] = id_maps
            if devices:
                bundle["linux"]["devices"] = [{"path": d["PathInContainer"], "type": d["type"], "major": d["major"],
                                               "minor": d["minor"], "fileMode": d["fileMode"], "uid": 0, "gid": 0}
                                              for d in devices]
            if o.tty:
                try:
                    size = os.get_terminal_size(0)
                    bundle["process"]["consoleSize"] = {"height": size.lines, "width": size.columns}
                except OSError:
                    pass
            write_json_atomic(cdir / "config.json", bundle, mode=0o600, durable=False)
            record = self._record(cid, name, o, image, args, bundle, mount_records, lowers, memory, swap, quota,
                                  period, no_new_privs)
            record["Config"].update(extra.pop("Config"))
            extra.pop("rlimits")
            record["HostConfig"].update(extra)
            if o.ip:
                record["NetworkingConfig"] = {"EndpointsConfig": {o.network: {"IPAMConfig": {"IPv4Address": o.ip}}}}
            from pocketbox import explain

            explain.emit("container", f"container {cid[:12]} ({name}) created: OCI bundle {cdir}/config.json, "
                         f"writable layer {cdir}/upper", "write config.json (runtime-spec 1.0)", "")
            record["HostConfig"]["RestartPolicy"] = restart
            if bindings:
                from pocketbox.network.ports import to_docker

                record["HostConfig"]["PortBindings"] = to_docker(bindings)
            record["HostConfig"]["PublishAllPorts"] = o.publish_all
            record["HostConfig"]["UsernsMode"] = "" if o.userns == "host" else o.userns
            record["IdMappings"] = {"UidMap": id_maps, "GidMap": id_maps} if id_maps else None
            record["HostConfig"]["Devices"] = [{k: d[k] for k in ("PathOnHost", "PathInContainer", "CgroupPermissions")}
                                               for d in devices]
            record["RestartCount"] = 0
            record["Config"]["Env"] = recorded_env(env, config.get("Env") or [])
            self.save(record)
            if o.cidfile:
                self._write_cidfile(o.cidfile, cid)
            events.container("create", record)
            return record
        except BaseException:
            remove_tree(cdir, ignore_errors=True)
            self._release_name(name, cid)
            self._remove_created_volumes()
            raise
        finally:
            os.close(self._name_lock)
            os.close(creating)

    @staticmethod
    def _check_stop_signal(o, config: dict) -> None:
        """--stop-signal (or the image's StopSignal) must name a signal; --stop-timeout a number."""
        from pocketbox.engine.lifecycle import parse_signal
        from pocketbox.engine.options import InvalidOption

        if o.stop_signal is not None:
            try:
                parse_signal(o.stop_signal)
            except PocketboxError:
                raise InvalidOption(f"Invalid signal: {o.stop_signal}") from None
            config["StopSignal"] = o.stop_signal
        elif config.get("StopSignal"):
            try:
                parse_signal(config["StopSignal"])
            except PocketboxError:
                raise InvalidOption(f"invalid StopSignal {str(config['StopSignal'])[:40]!r} in the image's "
                                    "config") from None

    def _process_settings(self, o, config: dict, memory: int | None) -> dict:
        """The flags that are only checked and recorded here (the bundle and the /etc files are made
        from the result): HostConfig keys, plus "Config" (keys of Config) and "rlimits" (the spec's)."""
        from pocketbox.engine import health, options as opt, process_options as po

        pid = po.namespace_mode(o.pid, "PID", ("", "host", "container:"))
        ipc = po.namespace_mode(o.ipc, "IPC", ("", "host", "private", "shareable", "none", "container:"))
        uts = po.namespace_mode(o.uts, "UTS", ("", "host"))
        if uts == "host" and o.hostname:
            raise opt.InvalidOption("Conflicting options: hostname and the UTS mode")
        for mode in (pid, ipc):
            if mode.startswith("container:"):
                self._namespace_target(mode)  # (checked now: it must exist and run)
        reservation = opt.parse_bytes(o.memory_reservation, "--memory-reservation") if o.memory_reservation else 0
        if reservation and reservation < opt.MIN_MEMORY:
            raise opt.InvalidOption("Minimum memory reservation allowed is 6MB")
        if reservation and memory is not None and memory < reservation:
            raise opt.InvalidOption("Minimum memory limit can not be less than memory reservation limit, see usage")
        oom_kill_disable = o.oom_kill_disable
        if oom_kill_disable:
            import sys

            from pocketbox.runtime.cgroups import detect

            if detect() == "v2":
                print("WARNING: Your kernel does not support OomKillDisable. OomKillDisable discarded.",
                      file=sys.stderr)
                oom_kill_disable = False
            elif memory is None:
                print("WARNING: Disabling the OOM killer on containers without setting a '-m/--memory' limit may "
                      "be dangerous.", file=sys.stderr)
        if o.ip:
            self._check_static_ip(o)
        ulimits = po.ulimits(o.ulimit)
        for key in ("ExposedPorts", "Labels", "Healthcheck"):  # an image's config is the image maker's: shapes checked
            if config.get(key) is not None and not isinstance(config[key], dict):
                raise opt.InvalidOption(f"invalid {key} in the image's config: {str(config[key])[:60]!r}")
        if any(not isinstance(v, str) for v in (config.get("Labels") or {}).values()):
            raise opt.InvalidOption("invalid Labels in the image's config: values must be strings")
        exposed = dict(config.get("ExposedPorts") or {})
        from pocketbox.network.ports import expose_specs

        exposed.update(expose_specs(o.expose))
        config["ExposedPorts"] = exposed or None  # (-P publishes these too)
        labels = {**(config.get("Labels") or {}), **opt.parse_labels(o.labels, o.label_files)}
        check = health.config(o, config)
        if o.stop_timeout is not None and o.stop_timeout < -1:
            raise opt.InvalidOption(f"invalid --stop-timeout {o.stop_timeout}: seconds, or -1 to wait forever")
        return {
            "Config": {"Labels": labels, "ExposedPorts": config["ExposedPorts"], "StopSignal": config.get("StopSignal"),
                       **({"Healthcheck": check} if check else {}),
                       **({"StopTimeout": o.stop_timeout} if o.stop_timeout is not None else {})},
            "rlimits": po.rlimits(ulimits), "Ulimits": ulimits or None,
            "PidMode": pid, "IpcMode": ipc or "private", "UTSMode": uts,
            "Sysctls": po.sysctls(o.sysctl, o.network, ipc) or None, "ShmSize": po.shm_size(o.shm_size),
            "ExtraHosts": po.extra_hosts(o.add_host, self._default_gateway() if any(
                h.endswith("host-gateway") for h in o.add_host) else None) or None,
            "Dns": po.dns_servers(o.dns), "DnsSearch": list(o.dns_search), "DnsOptions": list(o.dns_option),
            "Init": o.init or None, "CpusetCpus": opt.cpuset(o.cpuset_cpus, "--cpuset-cpus", opt.online("cpu")),
            "CpusetMems": opt.cpuset(o.cpuset_mems, "--cpuset-mems", opt.online("node")),
            "CpuPeriod": o.cpu_period or 0, "CpuQuota": o.cpu_quota or 0,
            "MemoryReservation": reservation, "OomKillDisable": oom_kill_disable,
            "LogConfig": opt.log_config(o.log_driver, o.log_opt), "ContainerIDFile": o.cidfile or "",
        }

    def _namespace_target(self, mode: str) -> dict:
        """The running container a --pid/--ipc container:NAME names."""
        target = self.find(mode.split(":", 1)[1])
        if target["State"]["Status"] not in ("running", "paused"):
            raise Conflict(f"cannot join namespace of a non running container: {target['Id']}")
        return target

    def _shared_namespaces(self, settings: dict) -> dict:
        """The spec's view of --pid/--ipc/--uts: "host", or a /proc/PID/ns path of another container
        (made again at each start: that container's PID may have changed)."""
        out = {}
        for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode"), ("uts", "UTSMode")):
            mode = settings.get(key) or ""
            if mode == "host":
                out[kind] = "host"
            elif mode.startswith("container:"):
                out[kind] = f"/proc/{self._namespace_target(mode)['State']['Pid']}/ns/{kind}"
        return out

    def join_namespaces(self, record: dict) -> None:
        """At start: point the bundle at the current processes of the containers whose PID or IPC
        namespace this one shares (--pid/--ipc container:NAME)."""
        host = record["HostConfig"]
        if not any((host.get(k) or "").startswith("container:") for k in ("PidMode", "IpcMode")):
            return
        shared = self._shared_namespaces(host)
        path = self.dir(record["Id"]) / "config.json"
        spec = read_json(path)
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] in shared and shared[ns["type"]] != "host":
                ns["path"] = shared[ns["type"]]
        write_json_atomic(path, spec, mode=0o600, durable=False)

    def _default_gateway(self) -> str:
        from pocketbox.network.networks import Networks

        return Networks(self.store.root).default()["IPAM"]["Config"][0]["Gateway"]

    def _check_static_ip(self, o) -> None:
        """--ip: an IPv4 address inside a user-defined network's subnet (Docker's rules)."""
        import ipaddress

        from pocketbox.engine.options import InvalidOption
        from pocketbox.network.networks import DEFAULT, Networks

        try:
            address = ipaddress.IPv4Address(o.ip)
        except ValueError:
            raise InvalidOption(f"invalid IPv4 address: {o.ip}") from None
        if o.network in ("host", "none", DEFAULT) or o.network.startswith("container:"):
            raise InvalidOption("user specified IP address is supported on user defined networks only")
        net = Networks(self.store.root).find(o.network)
        subnet = ipaddress.IPv4Network(net["IPAM"]["Config"][0]["Subnet"])
        if address not in subnet:
            raise InvalidOption(f"Invalid address {o.ip}: It does not belong to any of this network's subnets")

    @staticmethod
    def _write_cidfile(path: str, cid: str) -> None:
        from pocketbox.engine.options import InvalidOption

        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise InvalidOption(f"failed to create the container ID file: {e.strerror}: {path}") from None
        with os.fdopen(fd, "w") as f:
            f.write(cid)

    @staticmethod
    def _user_namespace(o) -> list[dict]:
        """--userns auto: map the container's 0-65535 to the host range for pocketbox (Docker's
        userns-remap, per container as podman's --userns=auto)."""
        from pocketbox.engine.options import InvalidOption

        if o.userns == "host":
            return []
        if o.userns != "auto":
            raise InvalidOption(f"invalid --userns {o.userns!r}: pocketbox knows host and auto")
        if o.privileged:
            raise InvalidOption("privileged mode is incompatible with user namespaces (--userns auto)")
        if o.network == "host" or o.network.startswith("container:"):
            raise InvalidOption("--userns auto needs a network namespace of the container's own")
        from pocketbox.runtime.userns import subordinate_range

        start, count = subordinate_range()
        return [{"containerID": 0, "hostID": start, "size": min(count, 65536)}]

    @staticmethod
    def _seccomp(option: str | None, caps: list[str], privileged: bool) -> dict | None:
        """Docker's rules: the default profile, unless `seccomp=unconfined` or --privileged (none),
        or `seccomp=FILE` (a profile in Docker's JSON format)."""
        if option == "unconfined" or (privileged and option is None):
            return None
        from pocketbox.engine import seccomp_profile

        if option is None:
            return seccomp_profile.default_profile(caps)
        section = seccomp_profile.load_profile_file(option, caps)
        from pocketbox.engine.options import InvalidOption
        from pocketbox.runtime.seccomp import SeccompError, cached_bpf
        from pocketbox.state import state_root

        try:  # compiled now: a bad profile is refused before anything is made (and the BPF is cached)
            cached_bpf(section, state_root() / "cache" / "seccomp")
        except (SeccompError, KeyError, TypeError) as e:
            raise InvalidOption(f"invalid seccomp profile {option}: {e}") from None
        return section

    def _check_network(self, o, config: dict) -> tuple[dict | None, list]:
        """--network and -p/-P checked before anything is made: (the container whose network is
        shared, or None; the port bindings asked for)."""
        from pocketbox.engine.options import InvalidOption

        bindings = []
        if o.publish or o.publish_all:
            from pocketbox.network import ports

            bindings = [ports.parse_publish(p) for p in o.publish] + (ports.exposed(config) if o.publish_all else [])
        if o.network in ("host", "none"):
            if bindings:
                import sys

                print(f"WARNING: Published ports are discarded when using {o.network} network mode", file=sys.stderr)
            return None, []
        if o.network.startswith("container:"):
            if bindings:
                raise InvalidOption("conflicting options: port publishing and the container type network mode")
            if o.hostname:
                raise InvalidOption("conflicting options: hostname and the network mode")
            return self.find(o.network.split(":", 1)[1]), []
        from pocketbox.network.networks import Networks

        Networks(self.store.root).find(o.network)  # NotFound: network NAME not found
        return None, bindings

    def _volumes_from(self, refs: list[str]) -> list:
        """--volumes-from CTR[:ro|rw]: that container's volumes and binds, at the same paths."""
        from pocketbox.engine.options import InvalidOption, MountSpec

        out = []
        for ref in refs:
            name, _, mode = ref.partition(":")
            if mode not in ("", "ro", "rw"):
                raise InvalidOption(f"invalid --volumes-from {ref!r}: the mode must be ro or rw")
            other = self.find(name)
            for m in other.get("Mounts", []):
                if m["Type"] in ("volume", "bind"):
                    ro = (mode == "ro") or (mode == "" and not m.get("RW", True))
                    source = m["Name"] if m["Type"] == "volume" else m["Source"]
                    out.append(MountSpec(m["Type"], source, m["Destination"], ro, copy_up=False))
        return out

    def _resolve_mounts(self, requests) -> tuple[list[dict], list[dict], list[str]]:
        """OCI mounts, inspect's Mounts, and the copy-up list; volumes are created here (first use)."""
        from pocketbox.engine import spec as specs
        from pocketbox.engine.volumes import Volumes

        volumes = Volumes(self.store.root)
        self._created_volumes = []
        oci, records, copy_up = [], [], []
        for m in requests:
            if m.kind == "volume":
                existed = m.source is not None and volumes.exists(m.source)
                v = volumes.create(m.source, anonymous=m.source is None)
                if not existed:
                    self._created_volumes.append(v["Name"])
                oci.append(specs.user_mount("bind", v["Mountpoint"], m.destination, m.read_only))
                records.append({"Type": "volume", "Name": v["Name"], "Source": v["Mountpoint"],
                                "Destination": m.destination, "Driver": "local", "Mode": "ro" if m.read_only else "",
                                "RW": not m.read_only, "Propagation": "", "Anonymous": v.get("Anonymous", False)})
                if m.copy_up:
                    copy_up.append(m.destination)
            elif m.kind == "bind":
                if not os.path.lexists(m.source):  # -v of a missing host directory: Docker makes it
                    os.makedirs(m.source, 0o755, exist_ok=True)
                oci.append(specs.user_mount("bind", m.source, m.destination, m.read_only))
                records.append({"Type": "bind", "Source": m.source, "Destination": m.destination,
                                "Mode": "ro" if m.read_only else "", "RW": not m.read_only, "Propagation": "rprivate"})
            else:
                oci.append(specs.user_mount("tmpfs", None, m.destination, m.read_only, m.options))
                records.append({"Type": "tmpfs", "Source": "", "Destination": m.destination,
                                "Mode": m.options, "RW": not m.read_only, "Propagation": ""})
        return oci, records, copy_up

    def _remove_created_volumes(self) -> None:
        """A create that failed takes back the volumes it made (nothing half-written)."""
        from pocketbox.engine.volumes import Volumes

        volumes = Volumes(self.store.root)
        for name in getattr(self, "_created_volumes", []):
            remove_tree(volumes.path(name), ignore_errors=True)
        self._created_volumes = []

    def _reserve_name(self, name: str | None, cid: str) -> str:
        """names/<name> holds the ID; its maker keeps it flock'ed until the record is saved, so a
        name whose maker was killed (unlocked, and no such record) is taken back, not lost."""
        from pocketbox.engine.names import random_name

        ensure_dir(self.names)
        for _ in range(100 if name is None else 2):
            candidate = name or random_name()
            staged = self.names / f".{candidate}.{os.getpid()}.tmp"
            fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.write(fd, cid.encode())
                os.link(staged, self.names / candidate)  # fails if taken; the linked file is locked already
            except FileExistsError:
                os.close(fd)
                if self._take_back_orphan(candidate):
                    continue
                if name is None:
                    continue
                owner = (self.names / candidate).read_text().strip()
                raise Conflict(f'Conflict. The container name "/{candidate}" is already in use by container '
                               f'"{owner}". You have to remove (or rename) that container to be able to reuse that name.')
            except BaseException:
                os.close(fd)
                raise
            finally:
                os.unlink(staged)
            self._name_lock = fd  # closed (unlocked) when create() ends
            return candidate
        raise PocketboxError("could not find a free random container name")

    def _take_back_orphan(self, name: str) -> bool:
        """Free a name whose maker died before its record existed."""
        try:
            fd = os.open(self.names / name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # being made right now
            owner = os.read(fd, 200).decode(errors="replace").strip()
            if self.load(owner) is not None:
                return False
            if os.stat(self.names / name).st_ino == os.fstat(fd).st_ino:
                os.unlink(self.names / name)
            return True
        except FileNotFoundError:
            return True
        finally:
            os.close(fd)

    def _release_name(self, name: str, cid: str) -> None:
        try:
            if (self.names / name).read_text().strip() == cid:
                (self.names / name).unlink()
        except FileNotFoundError:
            pass

    def _write_etc_files(self, cdir: Path, hostname: str, network: str, settings: dict) -> None:
        from pocketbox.engine.process_options import resolv_conf as with_dns
        from pocketbox.network.hosts import extra_lines, hosts_text

        (cdir / "hostname").write_text(hostname + "\n")
        extra = settings.get("ExtraHosts") or []
        if network == "host":
            with open("/etc/hosts") as f:
                (cdir / "hosts").write_text(f.read() + extra_lines(extra))
        else:
            (cdir / "hosts").write_text(hosts_text(hostname, extra=extra))
        (cdir / "resolv.conf").write_text(with_dns(resolv_conf(network), settings.get("Dns") or [],
                                                   settings.get("DnsSearch") or [], settings.get("DnsOptions") or []))
        for name in ("hostname", "hosts", "resolv.conf"):
            os.chmod(cdir / name, 0o644)

    def _record(self, cid, name, o, image, args, bundle, mounts, lowers, memory, swap, quota, period,
                no_new_privs) -> dict:
        cgroup = self.cgroup(cid)  # (the bundle is written: it says where)
        cdir = self.dir(cid)
        return {
            "Id": cid, "Name": "/" + name, "Created": now(),
            "Path": args[0], "Args": args[1:],
            "State": {"Status": "created", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
                      "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "", "StartedAt": "0001-01-01T00:00:00Z",
                      "FinishedAt": "0001-01-01T00:00:00Z"},
            "LogPath": str(cdir / f"{cid}-json.log"), "Driver": "overlay", "Platform": "linux", "ExecIDs": None,
            "NetworkSettings": dict(STOPPED_NETWORK),
            "Image": image["Id"], "ImageName": o.image,
            "ImageLayers": [layer["ChainID"] for layer in image["Layers"]],
            "Config": {"Hostname": bundle["hostname"], "Domainname": "", "Labels": {},
                       "Volumes": (image.get("Config") or {}).get("Volumes") or None,
                       "AttachStdout": not o.detach, "AttachStderr": not o.detach, "StdinOnce": o.interactive and not o.detach,
                       "User": o.user or (image.get("Config") or {}).get("User") or "", "GroupAdd": o.group_add, "Tty": o.tty, "OpenStdin": o.interactive,
                       "AttachStdin": o.interactive and not o.detach, "Env": [],
                       "Cmd": o.command or ((image.get("Config") or {}).get("Cmd") if o.entrypoint is None else None),
                       "Entrypoint": (list(o.entrypoint) if isinstance(o.entrypoint, list) else [o.entrypoint])
                       if o.entrypoint else (image.get("Config") or {}).get("Entrypoint"),
                       "Image": o.image, "WorkingDir": bundle["process"]["cwd"],
                       "StopSignal": (image.get("Config") or {}).get("StopSignal")},
            "HostConfig": {"Binds": o.volumes, "NetworkMode": o.network, "AutoRemove": o.remove,
                           "Privileged": o.privileged, "ReadonlyRootfs": o.read_only, "CapAdd": o.cap_add,
                           "CapDrop": o.cap_drop, "SecurityOpt": o.security_opt, "Memory": memory or 0,
                           "MemorySwap": swap or 0,
                           "NanoCpus": int(quota / period * 1e9) if quota and period and o.cpus else 0,
                           "CpuShares": o.cpu_shares or 0, "PidsLimit": o.pids_limit},
            "Mounts": mounts,
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(lowers), "UpperDir": str(cdir / "upper"),
                                                        "WorkDir": str(cdir / "work"), "MergedDir": str(cdir / "rootfs")}},
            "Cgroup": {"Version": "2" if cgroup.mode == "v2" else "1", "Mode": cgroup.mode, "Driver": "cgroupfs",
                       "Paths": cgroup.paths},
            "NoNewPrivileges": no_new_privs,
            "Capabilities": bundle["process"]["capabilities"]["effective"],
            "ResolvConfPath": str(cdir / "resolv.conf"), "HostnamePath": str(cdir / "hostname"),
            "HostsPath": str(cdir / "hosts"), "BundlePath": str(cdir), "RecordPath": str(cdir / "container.json"),
        }

    # --- run ----------------------------------------------------------------------------------
    def run(self, record: dict, report=None, attach: list[str] | None = None, output: int | None = None) -> int:
        """Start the container in the foreground and wait for it; returns its exit code.

        The container's stdio is ours (Docker's attached mode): stdin only with -i, and with -a
        only the named streams (the others go to /dev/null). `output`: one fd that both its
        stdout and stderr go to instead (a build's RUN)."""
        from pocketbox.runtime.run import Container

        cid = record["Id"]
        attach = attach or (["stdin", "stdout", "stderr"] if record["Config"]["OpenStdin"] else ["stdout", "stderr"])
        null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        log = LogWriter.for_record(record, str(self.dir(cid) / f"{cid}-json.log"))
        pipes, ours = {}, [null]  # without a terminal the output goes through us: to the log and the terminal
        if not record["Config"]["Tty"]:
            for fd, name in ((1, "stdout"), (2, "stderr")):
                r, w = os.pipe2(os.O_CLOEXEC)
                pipes[r] = ((fd if output is None else output) if name in attach else None, name)
                ours.append(w)
            stdio = (0 if "stdin" in attach else null, ours[1], ours[2])
        else:
            stdio = tuple(fd if name in attach else null for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")))
        container = Container(str(self.dir(cid)), cid, report, stdio)
        try:
            network = self.connect(record)
            container.start()
        except BaseException as e:
            for fd in ours + list(pipes):
                os.close(fd)
            log.close()
            self.disconnect(record)
            code, error = getattr(e, "exit_code", 125), str(e)  # Docker's: it stays created, code and error kept
            self.update(cid, lambda r: r["State"].update(Status="created", ExitCode=code, Error=error,
                                                         FinishedAt=now()))
            raise
        for fd in ours:
            os.close(fd)
        from pocketbox.runtime import operations

        operations.register(self.runtime_root, container)
        events.container("start", record)
        started = process_start_time(container.pid)
        self.update(cid, lambda r: (r["State"].update(Status="running", Running=True, Pid=container.pid,
                                                      PidStartTime=started, StartedAt=now()),
                                    r.update(NetworkSettings=network)))
        from pocketbox.logs import tee

        try:
            result = container.wait(on_output=lambda data: log.write("stdout", data),
                                    relay=(lambda: tee(pipes, log)) if pipes else None)
        finally:
            log.close()
            operations.unregister(self.runtime_root, cid)
        self.disconnect(record)
        events.container("die", record, exitCode=result.code)
        self.update(cid, lambda r: (r["State"].update(Status="exited", Running=False, Pid=0, ExitCode=result.code,
                                                      OOMKilled=result.oom_killed, FinishedAt=now()),
                                    r.update(NetworkSettings=STOPPED_NETWORK)))
        return result.code

    # --- network ------------------------------------------------------------------------------
    def connect(self, record: dict) -> dict:
        """What a start prepares before the container's process exists: the namespaces it shares
        with other containers, and its network (network/endpoint.py); returns its NetworkSettings."""
        self.join_namespaces(record)
        if record["HostConfig"].get("NetworkMode") in ("host", "none"):
            return {}
        from pocketbox.network import endpoint

        return endpoint.connect(record, self.dir(record["Id"]), self.find)

    def disconnect(self, record: dict) -> None:
        """Undo connect(): it is safe to call more than once, and for a container never connected."""
        if record["HostConfig"].get("NetworkMode") in ("host", "none"):
            return
        from pocketbox.network import endpoint

        endpoint.disconnect(record, self.dir(record["Id"]))

    # --- remove -------------------------------------------------------------------------------
    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> str:
        """rm: the container's record, upper dir and name; with `volumes`, its anonymous volumes."""
        cid = self.find(ref)["Id"]
        with self.lock(cid):  # one state at a time: a `start` racing this waits, or finds no record
            record = self.load(cid)
            if record is None:
                raise NotFound(f"No such container: {ref}")
            record = self.refresh(record)
            if record["State"]["Status"] in ("running", "paused", "restarting"):
                if not force:
                    raise Conflict(f"You cannot remove a running container {cid}. Stop the container before "
                                   "attempting removal or force remove")
                self.update(cid, lambda r: r["State"].update(StopRequested=True))
                self._kill(record)
            recorded = (record.get("Cgroup") or {}).get("Paths") or {}
            if not recorded or any(os.path.isdir(p) for p in recorded.values()):  # (a clean exit removed them)
                self.cgroup(cid).destroy()
            from pocketbox.runtime import operations

            operations.unregister(self.runtime_root, cid)  # (left by a supervisor killed with -9)
            self.disconnect(record)
            self._keep_exit_code(cid, record["State"].get("ExitCode", 0))
            remove_tree(self.dir(cid), ignore_errors=True)
            self._release_name(record["Name"].lstrip("/"), cid)
            events.container("destroy", record)
        from pocketbox import explain

        explain.report("cleanup", thing=f"container {cid[:12]}: its record, bundle and writable layer",
                       act=f"rm -r {self.dir(cid)}")
        if volumes:
            from pocketbox.engine.volumes import Volumes

            vols = Volumes(self.store.root)
            for m in record.get("Mounts", []):
                if m["Type"] == "volume" and m.get("Anonymous") and not vols.users(m["Name"], self):
                    remove_tree(vols.path(m["Name"]), ignore_errors=True)
        return cid

    def rename(self, ref: str, new_name: str) -> dict:
        """rename: the new name is reserved first (taken: a conflict, nothing changed), then the
        record says it, then the old name is freed."""
        from pocketbox.engine.options import InvalidOption

        if not NAME_RE.match(new_name.lstrip("/")):
            raise InvalidOption(f"Invalid container name ({new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
        new_name = new_name.lstrip("/")
        record = self.find(ref)
        old = record["Name"].lstrip("/")
        if old == new_name:
            raise PocketboxError("Renaming a container with the same name as its current name")
        self._reserve_name(new_name, record["Id"])
        try:
            updated = self.update(record["Id"], lambda r: r.update(Name="/" + new_name))
        finally:
            os.close(self._name_lock)
        if updated is None:
            self._release_name(new_name, record["Id"])
            raise NotFound(f"No such container: {ref}")
        self._release_name(old, record["Id"])
        events.container("rename", updated, oldName=record["Name"])
        return updated

    EXITS_KEPT = 300  # seconds a removed container's exit code stays readable (`wait` of a --rm container)

    def _keep_exit_code(self, cid: str, code: int) -> None:
        """exits/<id>: the exit code of a removed container, for a `wait` or `stop` that was
        watching it; older ones are dropped here."""
        exits = self.store.root / "exits"
        try:
            exits.mkdir(mode=0o700, exist_ok=True)
            (exits / cid).write_text(str(code))
            cutoff = time.time() - self.EXITS_KEPT
            for p in exits.iterdir():
                if p.stat().st_mtime < cutoff:
                    p.unlink(missing_ok=True)
        except OSError:  # (a full disk: only a later `wait` loses the code)
            pass

    def exit_code_of(self, cid: str) -> int | None:
        try:
            return int((self.store.root / "exits" / cid).read_text())
        except (OSError, ValueError):
            return None

    def _kill(self, record: dict) -> None:
        state = record["State"]
        self.cgroup(record["Id"]).kill_all()
        deadline = time.monotonic() + 10
        while process_alive(state.get("Pid", 0), state.get("PidStartTime")) and time.monotonic() < deadline:
            time.sleep(0.01)

    def prune(self) -> list[str]:
        removed = []
        for d in self.root.iterdir() if self.root.is_dir() else []:  # made by a create that was killed
            if not (d / "container.json").exists():
                fd = try_lock(self.store.root / "locks" / f"container-{d.name}.lock")
                if fd is not None:
                    try:
                        if not (d / "container.json").exists():
                            remove_tree(d, ignore_errors=True)
                    finally:
                        os.close(fd)
        for rec in self.all():
            if rec["State"]["Status"] in ("exited", "created", "dead"):
                removed.append(self.remove(rec["Id"]))
        return removed

    def sizes(self, record: dict) -> tuple[int, int]:
        """`ps -s`: the bytes of the container's writable layer, and those plus its image's
        (Docker's SizeRw and SizeRootFs). Hard links are counted once; nothing is followed."""
        seen, rw = set(), 0
        for top, dirs, files in os.walk(self.dir(record["Id"]) / "upper"):
            for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
                try:
                    st = os.lstat(os.path.join(top, name))
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) not in seen:
                    seen.add((st.st_dev, st.st_ino))
                    rw += st.st_size
        image = self.store.image(record["Image"]) or {}
        return rw, rw + int(image.get("Size", 0))

    def image_for(self, name: str) -> dict:
        from pocketbox.engine import images

        return images.find_image(self.store, name)


def recorded_env(user_env: list[str], image_env: list[str]) -> list[str]:
    """Config.Env as Docker records it: the user's variables, then the image's that the user did
    not set. HOSTNAME, HOME and TERM are given to the process (runc's way), not recorded."""
    keys = {e.partition("=")[0] for e in user_env}
    return list(user_env) + [e for e in image_env if e.partition("=")[0] not in keys]


def resolv_conf(network: str) -> str:
    """The host's resolv.conf; for an isolated network, loopback resolvers are dropped (they would
    point at the container itself) and Google's public ones used if none is left, as Docker does."""
    try:
        with open("/etc/resolv.conf") as f:
            text = f.read()
    except OSError:
        text = ""
    if network == "host":
        return text
    lines, servers = [], 0
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["nameserver"] and len(parts) > 1:
            if parts[1].startswith("127.") or parts[1] == "::1":
                continue
            servers += 1
        lines.append(line)
    if not servers:
        lines += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(lines) + "\n"
