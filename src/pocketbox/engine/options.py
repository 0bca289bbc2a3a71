"""What `run` was asked for, parsed and checked the way Docker checks it, before anything is created."""
import math
import os

from pocketbox.errors import PocketboxError

MIN_MEMORY = 6 * 1024 * 1024
MAX_INT64 = 2**63 - 1
MAX_ENV_FILE = 1 << 20


class InvalidOption(PocketboxError):
    pass


class RunOptions:
    """What `run` was asked for. A plain class, not a dataclass: making an 80-field dataclass costs
    milliseconds of every `run`'s start-up. Sequence options default to empty tuples (never mutated)."""
    image: str = ""
    command: list[str] = ()
    entrypoint: str | None = None       # None: the image's; "": none
    env: list[str] = ()
    env_files: list[str] = ()
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    name: str | None = None
    remove: bool = False
    detach: bool = False
    interactive: bool = False
    tty: bool = False
    attach: list[str] = ()
    network: str = "bridge"
    volumes: list[str] = ()
    read_only: bool = False
    cap_add: list[str] = ()
    cap_drop: list[str] = ()
    privileged: bool = False
    security_opt: list[str] = ()
    memory: str | None = None
    memory_swap: str | None = None
    cpus: str | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    platform: str | None = None
    pull: str = "missing"
    restart: str = "no"
    mounts: list[str] = ()
    tmpfs: list[str] = ()
    volumes_from: list[str] = ()
    group_add: list[str] = ()
    publish: list[str] = ()
    publish_all: bool = False
    userns: str = "host"
    devices: list[str] = ()
    labels: list[str] = ()
    label_files: list[str] = ()
    add_host: list[str] = ()
    dns: list[str] = ()
    dns_search: list[str] = ()
    dns_option: list[str] = ()
    init: bool = False
    ulimit: list[str] = ()
    stop_signal: str | None = None
    stop_timeout: int | None = None
    shm_size: str | None = None
    expose: list[str] = ()
    ip: str | None = None
    pid: str | None = None
    ipc: str | None = None
    uts: str | None = None
    sysctl: list[str] = ()
    cidfile: str | None = None
    cpuset_cpus: str | None = None
    cpuset_mems: str | None = None
    cpu_period: int | None = None
    cpu_quota: int | None = None
    memory_reservation: str | None = None
    oom_kill_disable: bool = False
    log_driver: str | None = None
    log_opt: list[str] = ()
    sig_proxy: str = "true"
    detach_keys: str | None = None
    health_cmd: str | None = None
    health_interval: str | None = None
    health_timeout: str | None = None
    health_retries: int | None = None
    health_start_period: str | None = None
    no_healthcheck: bool = False
    healthcheck: dict | None = None     # the Engine API's Config.Healthcheck, as given

    def __init__(self, **options):
        for name, value in options.items():
            if name not in RunOptions.__annotations__:
                raise TypeError(f"RunOptions has no option {name!r}")
            setattr(self, name, value)


def parse_bytes(text: str, what: str) -> int:
    """Docker's RAMInBytes: 32m, 1g, 512k, 100 (bytes); units are powers of 1024."""
    t = text.strip().lower()
    units = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if t.endswith("b") and len(t) > 1 and t[-2] in units:
        t = t[:-1]
    mult = 1
    if t and t[-1] in units:
        mult = units[t[-1]]
        t = t[:-1]
    try:
        value = float(t)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidOption(f"invalid {what}: {text!r} (use a number with an optional unit b, k, m or g)")
    if value < 0:
        raise InvalidOption(f"invalid {what}: {text!r} is negative")
    if value * mult > MAX_INT64:
        raise InvalidOption(f"invalid {what}: {text!r} is too large")
    return int(value * mult)


def memory_limits(opts: RunOptions) -> tuple[int | None, int | None]:
    memory = parse_bytes(opts.memory, "--memory") if opts.memory else None
    if memory is not None and memory < MIN_MEMORY:
        raise InvalidOption("Minimum memory limit allowed is 6MB")
    swap = None
    if opts.memory_swap:
        if opts.memory_swap.strip() == "-1":
            swap = -1
        else:
            swap = parse_bytes(opts.memory_swap, "--memory-swap")
        if memory is None:
            raise InvalidOption("You should always set the Memory limit when using Memoryswap limit, see usage")
        if swap != -1 and swap < memory:
            raise InvalidOption("Minimum memoryswap limit should be larger than memory limit, see usage")
    return memory, swap


def cpu_limit(opts: RunOptions) -> float | None:
    if opts.cpus is None:
        return None
    try:
        cpus = float(opts.cpus)
    except ValueError:
        cpus = math.nan
    if not math.isfinite(cpus):
        raise InvalidOption(f"invalid argument {opts.cpus!r} for \"--cpus\" flag: not a number")
    n = os.cpu_count() or 1
    if not 0.01 <= cpus <= n:
        raise InvalidOption(f"Range of CPUs is from 0.01 to {n}.00, as there are only {n} CPUs available")
    return cpus


def cpu_shares(value: int | None) -> int | None:
    """--cpu-shares: 0 is the default; the kernel's range is 2..262144, to which Docker clamps."""
    if value is None or value == 0:
        return None
    if value < 0:
        raise InvalidOption(f"invalid --cpu-shares {value}: it must be 0 (the default) or from 2 to 262144")
    return min(max(value, 2), 262144)


def pids_limit(value: int | None) -> int | None:
    """--pids-limit: 0 or -1 (any negative) is unlimited, as Docker's."""
    if value is None:
        return None
    if value > MAX_INT64:
        raise InvalidOption(f"invalid --pids-limit {value}: it is too large")
    return value


def parse_env_files(paths: list[str]) -> list[str]:
    """--env-file: KEY=VALUE lines; `#` comments and blank lines skipped; a bare KEY takes the host's value."""
    out = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_ENV_FILE + 1)
        except OSError as e:
            raise InvalidOption(f"open {path}: {e.strerror.lower()}") from None
        if len(data) > MAX_ENV_FILE:
            raise InvalidOption(f"--env-file {path}: larger than {MAX_ENV_FILE >> 20} MiB")
        lines = data.split(b"\n")
        for number, raw in enumerate(lines, 1):
            if b"\0" in raw:
                raise InvalidOption(f"--env-file {path}: line {number} contains a NUL byte")
            try:
                line = raw.decode()
            except UnicodeDecodeError:
                raise InvalidOption(f"--env-file {path}: invalid utf8 bytes at line {number}") from None
            out.extend(_env_line(line))
    return out


def _env_line(line: str) -> list[str]:
    line = line.strip()
    if not line or line.startswith("#"):
        return []
    return expand_env([line])


def expand_env(items: list[str]) -> list[str]:
    """-e KEY=VALUE as given; -e KEY takes the host's value (and is dropped if the host has none)."""
    out = []
    for item in items:
        if "=" in item:
            if item.startswith("="):
                raise InvalidOption(f"invalid environment variable: {item}")
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


class MountSpec:
    """One -v / --mount / --tmpfs request. kind: bind (source = host path), volume (source =
    volume name, None for an anonymous one), tmpfs (options = tmpfs data)."""

    def __init__(self, kind: str, source: str | None, destination: str, read_only: bool = False, options: str = "",
                 copy_up: bool = True):
        self.kind, self.source, self.destination = kind, source, destination
        self.read_only, self.options, self.copy_up = read_only, options, copy_up

    def __repr__(self) -> str:
        return f"MountSpec({self.kind!r}, {self.source!r}, {self.destination!r}, {self.read_only})"


def check_target(target: str, spec: str) -> str:
    if not target.startswith("/"):
        raise InvalidOption(f"invalid mount {spec!r}: the container path {target!r} must be absolute")
    if ".." in target.split("/"):
        raise InvalidOption(f"invalid mount {spec!r}: the container path may not contain '..'")
    if os.path.normpath(target) == "/":
        raise InvalidOption(f"invalid mount {spec!r}: the container path cannot be '/'")
    return os.path.normpath(target)


def _bind_source(source: str, spec: str, create: bool = False) -> str:
    """The absolute host path of a bind (relative to the current directory, as current Docker).
    -v creates a missing directory when the container is created (`create`); --mount refuses it."""
    if not os.path.exists(source):
        if create:
            return os.path.abspath(source)
        raise InvalidOption(f"invalid mount {spec!r}: bind source path does not exist: {source}")
    return os.path.realpath(source)


def is_path(source: str) -> bool:
    """-v SOURCE is a host path when it starts with / or . (Docker 23 and later); else a volume name."""
    return source.startswith(("/", "./", "../")) or source in (".", "..")


def parse_volume(spec: str) -> MountSpec:
    """-v /host:/ctr[:ro|rw] (bind), -v NAME:/ctr[:ro|rw] (named volume), -v /ctr (anonymous volume)."""
    from pocketbox.engine.volumes import check_name

    parts = spec.split(":")
    if len(parts) == 1:
        return MountSpec("volume", None, check_target(parts[0], spec))
    if len(parts) not in (2, 3) or not parts[0]:
        raise InvalidOption(f"invalid volume specification: {spec!r}: use SOURCE:/container/path[:ro]")
    source, dest = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    modes = set(mode.split(","))
    if not modes <= {"ro", "rw", "nocopy"} or {"ro", "rw"} <= modes:
        raise InvalidOption(f"invalid mode {mode!r} in volume specification {spec!r}: use ro or rw")
    target = check_target(dest, spec)
    if is_path(source):
        return MountSpec("bind", _bind_source(source, spec, create=True), target, "ro" in modes)
    check_name(source)
    return MountSpec("volume", source, target, "ro" in modes, copy_up="nocopy" not in modes)


def parse_mount(spec: str) -> MountSpec:
    """--mount type=bind|volume|tmpfs,source=...,target=...[,readonly][,tmpfs-size=...][,tmpfs-mode=...]."""
    from pocketbox.engine.volumes import check_name

    fields: dict[str, str] = {}
    for item in spec.split(","):
        key, sep, value = item.partition("=")
        fields[key.strip().lower()] = value.strip() if sep else "true"
    kind = fields.pop("type", "volume")
    source = fields.pop("source", None) or fields.pop("src", None)
    target = fields.pop("target", None) or fields.pop("destination", None) or fields.pop("dst", None)
    read_only = fields.pop("readonly", fields.pop("ro", "false")) in ("true", "1", "")
    if not target:
        raise InvalidOption(f"invalid --mount {spec!r}: target is required")
    target = check_target(target, spec)
    if kind == "bind":
        if not source or not source.startswith("/"):
            raise InvalidOption(f"invalid --mount {spec!r}: a bind mount needs an absolute source path")
        m = MountSpec("bind", _bind_source(source, spec), target, read_only)
    elif kind == "volume":
        if source:
            check_name(source)
        m = MountSpec("volume", source, target, read_only, copy_up=fields.pop("volume-nocopy", "false") != "true")
    elif kind == "tmpfs":
        if source:
            raise InvalidOption(f"invalid --mount {spec!r}: a tmpfs mount takes no source")
        opts = []
        if "tmpfs-size" in fields:
            opts.append(f"size={parse_bytes(fields.pop('tmpfs-size'), 'tmpfs-size')}")
        if "tmpfs-mode" in fields:
            opts.append(f"mode={fields.pop('tmpfs-mode')}")
        m = MountSpec("tmpfs", None, target, read_only, ",".join(opts))
    else:
        raise InvalidOption(f"invalid --mount {spec!r}: type must be bind, volume or tmpfs")
    if fields:
        raise InvalidOption(f"invalid --mount {spec!r}: unknown field(s) {', '.join(sorted(fields))}")
    return m


def parse_tmpfs(spec: str) -> MountSpec:
    """--tmpfs /path[:size=64m,mode=1777,...]."""
    target, _, opts = spec.partition(":")
    return MountSpec("tmpfs", None, check_target(target, spec), False, opts)


def parse_restart(text: str) -> dict:
    """--restart no | always | unless-stopped | on-failure[:N] -> Docker's RestartPolicy."""
    name, _, count = (text or "no").partition(":")
    if name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidOption(f"invalid restart policy {text!r}: use no, always, unless-stopped or on-failure[:N]")
    if count and (name != "on-failure" or not count.isdigit()):
        raise InvalidOption(f"invalid restart policy {text!r}: only on-failure takes a maximum retry count")
    return {"Name": name, "MaximumRetryCount": int(count) if count else 0}


def parse_device(spec: str) -> dict:
    """--device HOST[:CONTAINER][:PERMS] (Docker's form) -> the host node's type and numbers."""
    import stat

    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise InvalidOption(f"invalid device specification: {spec}")
    host = parts[0]
    container = parts[1] if len(parts) > 1 and not set(parts[1]) <= set("rwm") else host
    perms = parts[-1] if len(parts) > 1 and set(parts[-1]) <= set("rwm") and parts[-1] else "rwm"
    try:
        st = os.stat(host)
    except OSError as e:
        raise InvalidOption(f'error gathering device information while adding custom device "{host}": '
                            f"{e.strerror.lower()}") from None
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise InvalidOption(f'error gathering device information while adding custom device "{host}": '
                            "not a device node")
    if not container.startswith("/dev/") or ".." in container.split("/"):
        raise InvalidOption(f"invalid device path {container!r}: pocketbox puts devices under /dev/")
    return {"PathOnHost": host, "PathInContainer": container, "CgroupPermissions": perms,
            "type": "c" if stat.S_ISCHR(st.st_mode) else "b", "major": os.major(st.st_rdev),
            "minor": os.minor(st.st_rdev), "fileMode": stat.S_IMODE(st.st_mode)}


def parse_labels(labels: list[str], files: list[str]) -> dict[str, str]:
    """--label-file lines (comments and blank lines skipped), then --label KEY[=VALUE]: later wins."""
    items = []
    for path in files:
        try:
            with open(path, encoding="utf-8") as f:
                items += [line.strip() for line in f if line.strip() and not line.lstrip().startswith("#")]
        except (OSError, UnicodeDecodeError) as e:
            raise InvalidOption(f"open {path}: {getattr(e, 'strerror', None) or e}") from None
    out = {}
    for item in items + list(labels):
        key, _, value = item.partition("=")
        if not key:
            raise InvalidOption(f"invalid label '{item}': empty name")
        out[key] = value
    return out


GO_DURATION = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_duration(text: str, flag: str) -> float:
    """A Go duration (1m30s, 500ms, 2h) in seconds, as Docker's duration flags read it."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text)
    if text in ("0", "") or (parts and "".join(n + u for n, u in parts) == text):
        return sum(float(n) * GO_DURATION[u] for n, u in parts)
    raise InvalidOption(f'invalid argument "{text}" for "{flag}" flag: time: invalid duration "{text}"')


def log_config(driver: str | None, log_opts: list[str]) -> dict:
    """--log-driver json-file|none and --log-opt max-size=10m,max-file=3 (json-file's options)."""
    driver = driver or "json-file"
    if driver not in ("json-file", "none"):
        raise InvalidOption(f'failed to create logging driver: logger: no log driver named \'{driver}\' is registered '
                            "(pocketbox has json-file and none)")
    config = {}
    for item in log_opts:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidOption(f"invalid key value pair format in log options: {item}")
        config[key] = value
    allowed = {"max-size", "max-file", "compress", "labels", "env", "tag"} if driver == "json-file" else set()
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise InvalidOption(f"unknown log opt '{unknown[0]}' for {driver} log driver")
    if "max-size" in config:
        size = parse_bytes(config["max-size"], "max-size")
        if size <= 0 and config["max-size"] != "-1":
            raise InvalidOption("max-size must be a positive number")
    if "max-file" in config:
        if not config["max-file"].isdigit() or int(config["max-file"]) < 1:
            raise InvalidOption("max-file cannot be less than 1")
        if int(config["max-file"]) > 1 and "max-size" not in config:
            raise InvalidOption("max-file cannot be set without max-size")
    return {"Type": driver, "Config": config}


def cpu_quota(o) -> tuple[int | None, int | None]:
    """(quota, period) in microseconds from --cpus or --cpu-quota/--cpu-period (not both)."""
    cpus = cpu_limit(o)
    if cpus is not None:
        if o.cpu_period or o.cpu_quota:
            raise InvalidOption("Conflicting options: Nano CPUs and CPU Period cannot both be set" if o.cpu_period
                                else "Conflicting options: Nano CPUs and CPU Quota cannot both be set")
        return int(cpus * 100000), 100000
    if o.cpu_period is not None and o.cpu_period != 0 and not 1000 <= o.cpu_period <= 1000000:
        raise InvalidOption("CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)")
    if o.cpu_quota is not None and 0 < o.cpu_quota < 1000:
        raise InvalidOption("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    return o.cpu_quota or None, o.cpu_period or None


def cpuset(value: str | None, flag: str, available: str | None) -> str | None:
    """--cpuset-cpus/--cpuset-mems: 0-3 or 0,1; each listed CPU (node) must exist."""
    if not value:
        return None
    import re

    if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", value):
        raise InvalidOption(f"Invalid value {value} for {flag.lstrip('-').replace('-', '')}")
    wanted = _id_list(value)
    if available is not None and not wanted <= _id_list(available):
        what = "cpus" if flag == "--cpuset-cpus" else "mems"
        raise InvalidOption(f"Requested {what} are not available - requested {value}, available: {available}")
    return value


def _id_list(text: str) -> set[int]:
    out: set[int] = set()
    for part in filter(None, text.strip().split(",")):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def online(kind: str) -> str | None:
    """The host's CPUs ("cpu") or memory nodes ("node") as the kernel lists them (0-1); None if unknown."""
    try:
        with open(f"/sys/devices/system/{kind}/online") as f:
            return f.read().strip()
    except OSError:
        return None
