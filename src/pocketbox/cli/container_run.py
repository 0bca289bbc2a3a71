"""`run` and `exec`: their options (as data) and what they do once the options are read.

No click here: these two commands can run without importing it (cli/quickparse.py says why);
cli/container_commands.py makes click commands of the same options and functions."""
import sys

from pocketbox.cli.quickparse import CommandSpec, Option
from pocketbox.errors import PocketboxError

RUN = CommandSpec("image", "command", False, [
    Option("--name", help="Assign a name to the container."),
    Option("--rm", dest="remove", kind="flag", help="Remove the container when it exits."),
    Option("-d", "--detach", kind="flag", help="Run the container in the background and print its ID."),
    Option("-i", "--interactive", kind="flag", help="Keep STDIN open."),
    Option("-t", "--tty", kind="flag", help="Allocate a pseudo-TTY."),
    Option("-a", "--attach", kind="multi", choices=("stdin", "stdout", "stderr"),
           help="Attach to STDIN, STDOUT or STDERR."),
    Option("-e", "--env", kind="multi", help="Set environment variables (KEY=VALUE, or KEY to copy the host's)."),
    Option("--env-file", kind="multi", help="Read environment variables from a file."),
    Option("-w", "--workdir", help="Working directory inside the container."),
    Option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
    Option("--group-add", kind="multi", help="Add additional groups to join (name or GID)."),
    Option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
    Option("-h", "--hostname", help="Container host name."),
    Option("--network", "--net", dest="network", default="bridge",
           help="bridge (the default network), a network made with `network create`, host, none or container:NAME."),
    Option("-p", "--publish", kind="multi",
           help="Publish a container's port to the host: [ip:][host_port:]container_port[/tcp|/udp]."),
    Option("-P", "--publish-all", kind="flag", help="Publish all exposed ports to free host ports."),
    Option("-v", "--volume", kind="multi",
           help="Bind mount /host/path:/ctr/path[:ro], a named volume NAME:/ctr/path[:ro], or an anonymous /ctr/path."),
    Option("--mount", dest="mounts", kind="multi", help="type=bind|volume|tmpfs,source=...,target=...[,readonly]."),
    Option("--tmpfs", kind="multi", help="Mount a tmpfs: /ctr/path[:size=64m,mode=1777]."),
    Option("--volumes-from", kind="multi", help="Mount the volumes of another container: CONTAINER[:ro|rw]."),
    Option("--read-only", kind="flag", help="Mount the container's root filesystem as read only."),
    Option("--cap-add", kind="multi", help="Add Linux capabilities."),
    Option("--cap-drop", kind="multi", help="Drop Linux capabilities."),
    Option("--privileged", kind="flag",
           help="Give the container every capability, no seccomp filter, every device, and /proc and /sys "
                "unmasked and writable (so it can, e.g., write /proc/sys/kernel/core_pattern and run code as "
                "the host's root): root in the container is root on the host."),
    Option("--userns", default="host",
           help="host, or auto: the container's root is an unprivileged host user (/etc/subuid's pocketbox range, "
                "else 100000-165535)."),
    Option("--device", kind="multi", help="Add a host device: /dev/HOST[:/dev/CONTAINER][:rwm]."),
    Option("--security-opt", kind="multi", help="Security options (no-new-privileges)."),
    Option("-m", "--memory", help="Memory limit (e.g. 32m)."),
    Option("--memory-swap", help="Memory + swap limit; -1 for unlimited swap."),
    Option("--cpus", help="Number of CPUs (e.g. 0.5)."),
    Option("-c", "--cpu-shares", integer=True, help="CPU shares (relative weight)."),
    Option("--pids-limit", integer=True, help="Tune container pids limit (-1 for unlimited)."),
    Option("--platform", help="Pull this platform if the image is missing."),
    Option("--pull", choices=("missing", "always", "never"), default="missing", help="Pull the image before running."),
    Option("--restart", default="no", help="Restart policy: no, on-failure[:max-retries], always, unless-stopped."),
    Option("-l", "--label", dest="labels", kind="multi", help="Set meta data on a container (KEY=VALUE)."),
    Option("--label-file", dest="label_files", kind="multi", help="Read in a line delimited file of labels."),
    Option("--add-host", kind="multi", help="Add a custom host-to-IP mapping (host:ip; host-gateway is the bridge's)."),
    Option("--dns", kind="multi", help="Set custom DNS servers."),
    Option("--dns-search", kind="multi", help="Set custom DNS search domains."),
    Option("--dns-option", kind="multi", help="Set DNS options."),
    Option("--init", kind="flag", help="Run an init inside the container that forwards signals and reaps processes."),
    Option("--ulimit", kind="multi", help="Ulimit options (nofile=1024:2048)."),
    Option("--stop-signal", help="Signal to stop the container (default: the image's, or SIGTERM)."),
    Option("--stop-timeout", integer=True, help="Timeout (in seconds) to stop a container (default 10)."),
    Option("--shm-size", help="Size of /dev/shm (default 64m)."),
    Option("--expose", kind="multi", help="Expose a port or a range of ports (80, 8000-8010/udp)."),
    Option("--ip", help="IPv4 address (on a network made with `network create`)."),
    Option("--pid", help="PID namespace to use: host, or container:NAME."),
    Option("--ipc", help="IPC mode to use: private, shareable, host, none or container:NAME."),
    Option("--uts", help="UTS namespace to use: host."),
    Option("--sysctl", kind="multi", help="Sysctl options of the container's namespaces (net.*, kernel.shm*, ...)."),
    Option("--cidfile", help="Write the container ID to the file."),
    Option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
    Option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1)."),
    Option("--cpu-period", integer=True, help="Limit CPU CFS (Completely Fair Scheduler) period."),
    Option("--cpu-quota", integer=True, help="Limit CPU CFS (Completely Fair Scheduler) quota."),
    Option("--memory-reservation", help="Memory soft limit."),
    Option("--oom-kill-disable", kind="flag", help="Disable OOM Killer (cgroup v1 hosts only)."),
    Option("--log-driver", help="Logging driver for the container: json-file (the default) or none."),
    Option("--log-opt", kind="multi", help="Log driver options: max-size=10m, max-file=3."),
    Option("--sig-proxy", choices=("true", "false"), default="true",
           help="Proxy received signals to the process (non-TTY foreground runs)."),
    Option("--detach-keys", help="Override the key sequence for detaching a container (default ctrl-p,ctrl-q)."),
    Option("--health-cmd", help="Command to run to check health."),
    Option("--health-interval", help="Time between running the check (ms|s|m|h) (default 30s)."),
    Option("--health-timeout", help="Maximum time to allow one check to run (ms|s|m|h) (default 30s)."),
    Option("--health-retries", integer=True, help="Consecutive failures needed to report unhealthy (default 3)."),
    Option("--health-start-period", help="Start period for the container to initialize before starting "
                                         "health-retries countdown (ms|s|m|h) (default 0s)."),
    Option("--no-healthcheck", kind="flag", help="Disable any container-specified HEALTHCHECK."),
])

EXEC = CommandSpec("container", "command", True, [
    Option("-i", "--interactive", kind="flag", help="Keep STDIN open."),
    Option("-t", "--tty", kind="flag", help="Allocate a pseudo-TTY."),
    Option("-d", "--detach", kind="flag", help="Run the command in the background."),
    Option("-e", "--env", kind="multi", help="Set environment variables."),
    Option("--env-file", kind="multi", help="Read in a file of environment variables."),
    Option("-w", "--workdir", help="Working directory inside the container."),
    Option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
    Option("--privileged", kind="flag", help="Give extended privileges to the command (every capability, no "
                                             "seccomp filter)."),
    Option("--detach-keys", help="Override the key sequence for detaching a container."),
])


RENAMED = {"volume": "volumes", "env_file": "env_files", "device": "devices"}  # flag -> RunOptions field


def _options(flags: dict):
    """The engine's RunOptions from the flags of `run` (and `create`, which takes the same)."""
    from pocketbox.engine.options import RunOptions

    return RunOptions(**{RENAMED.get(k, k): list(v) if isinstance(v, tuple) else v for k, v in flags.items()})


def create(**flags) -> int:
    """Create a new container from an image (without starting it); prints its ID."""
    opts = _options(flags)
    from pocketbox.engine.containers import Containers

    containers = Containers()
    try:
        record = containers.create(opts, _image_for_run(containers, opts))
    except PocketboxError as e:  # Docker's create: 125, as run's
        e.exit_code = 125
        raise
    print(record["Id"])
    return 0


def run(**flags) -> int:
    """Create and run a new container from an image."""
    opts = _options(flags)
    from pocketbox.engine.containers import Containers

    if opts.tty and not sys.stdin.isatty() and opts.interactive:
        raise PocketboxError("the input device is not a TTY", 1)
    if opts.detach and opts.attach:
        raise PocketboxError("conflicting options: cannot specify both --attach and --detach")
    containers = Containers()
    try:
        record = containers.create(opts, _image_for_run(containers, opts))
    except PocketboxError as e:  # Docker's run: everything that goes wrong before the command is 125
        e.exit_code = 125
        raise
    proxy = opts.sig_proxy == "true"
    if opts.detach or opts.tty or opts.restart != "no" or not proxy or \
            (record["Config"].get("Healthcheck") or {}).get("Test", ["NONE"])[0] != "NONE":
        # a supervisor keeps the container (its terminal, its restarts, its health checks) after we
        # leave; without --sig-proxy a signal that ends us leaves the container running, as Docker's
        from pocketbox.engine.lifecycle import Lifecycle

        life = Lifecycle(containers)
        try:
            if opts.detach:
                life.start(record["Id"])
                print(record["Id"])
                return 0
            return attach_and_start(life, record, opts.interactive, opts.detach_keys, proxy and not opts.tty)
        except PocketboxError:
            if opts.remove:
                containers.remove(record["Id"], force=True, volumes=True)
            raise
    code = 125
    try:
        code = containers.run(record, report=None, attach=list(opts.attach) or None)
    finally:
        if opts.remove:
            containers.remove(record["Id"], force=True, volumes=True)
    return code


def attach_and_start(life, record, stdin: bool, detach_keys: str | None = None, proxy: bool = False) -> int:
    """Start under a supervisor that waits for us, attach, relay; 0 if the user detached.
    `proxy`: the signals we get are passed on to the container (Docker's --sig-proxy)."""
    from pocketbox import attach as client

    keys = client.parse_detach_keys(detach_keys)
    _, ready = life.start(record["Id"], wait_attach=True)
    sock = client.connect(str(life.engine.dir(record["Id"])))
    life.wait_started(record["Id"], ready)
    if proxy:
        import signal

        from pocketbox.runtime.run import FORWARDED_SIGNALS

        def forward(signum, frame):
            try:
                life.kill(record["Id"], str(signum))
            except PocketboxError:
                pass
        for s in FORWARDED_SIGNALS:
            signal.signal(s, forward)
    code = client.stream(sock, record["Config"]["Tty"], stdin, keys)
    if code == client.DETACHED:
        print(file=sys.stderr)
        return 0
    from pocketbox.errors import NotFound

    try:
        life.wait_exited(record["Id"])
    except NotFound:  # --rm: the supervisor removed it already
        pass
    return code


def _image_for_run(containers, opts):
    """The image, pulled first when missing (or always), with Docker's messages on stderr."""
    from pocketbox import reference
    from pocketbox.errors import NotFound

    if opts.pull != "always":
        try:
            return containers.image_for(opts.image)
        except NotFound:
            if opts.pull == "never":
                raise
    from pocketbox.cli.progress import PullProgress
    from pocketbox.image.pull import pull as do_pull
    from pocketbox.registry.manifest import parse_platform

    ref = reference.parse(opts.image)
    if opts.pull != "always":
        print(f"Unable to find image '{ref.familiar()}' locally", file=sys.stderr)
    print(f"{ref.digest or ref.tag}: Pulling from {ref.path}", file=sys.stderr)
    result = do_pull(ref, parse_platform(opts.platform) if opts.platform else None, progress=PullProgress(sys.stderr))
    print(f"Digest: {result.manifest_digest}", file=sys.stderr)
    print(f"Status: Downloaded newer image for {ref.familiar()}", file=sys.stderr)
    return containers.store.image(result.image_id)


def exec_(container, command, interactive, tty, detach, env, env_file, workdir, user, privileged,
          detach_keys) -> int:
    """Run a command in a running container (joins its namespaces, cgroup and confinement)."""
    from pocketbox import attach as client
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.lifecycle import exec_process
    from pocketbox.engine.options import parse_env_files

    if tty and interactive and not sys.stdin.isatty():
        raise PocketboxError("the input device is not a TTY", 1)
    client.parse_detach_keys(detach_keys)  # (checked as Docker does; an exec's terminal is ours, not a relay)
    try:
        return exec_process(Containers(), container, list(command), interactive=interactive, tty=tty,
                            env=parse_env_files(list(env_file)) + list(env), workdir=workdir, user=user,
                            detach=detach, privileged=privileged)
    except PocketboxError as e:
        if e.exit_code == 127:  # Docker's exec: a command that cannot be run is 126, found or not
            e.exit_code = 126
        raise
