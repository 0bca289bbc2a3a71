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
])

EXEC = CommandSpec("container", "command", True, [
    Option("-i", "--interactive", kind="flag", help="Keep STDIN open."),
    Option("-t", "--tty", kind="flag", help="Allocate a pseudo-TTY."),
    Option("-d", "--detach", kind="flag", help="Run the command in the background."),
    Option("-e", "--env", kind="multi", help="Set environment variables."),
    Option("-w", "--workdir", help="Working directory inside the container."),
    Option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
])


def _options(image, command, name, remove, detach, interactive, tty, attach, env, env_file, workdir, user, group_add,
             entrypoint, hostname, network, publish, publish_all, volume, mounts, tmpfs, volumes_from, read_only,
             cap_add, cap_drop, privileged, userns, device, security_opt, memory, memory_swap, cpus, cpu_shares,
             pids_limit, platform, pull, restart):
    """The engine's RunOptions from the flags of `run` (and `create`, which takes the same)."""
    from pocketbox.engine.options import RunOptions

    return RunOptions(image=image, command=list(command), entrypoint=entrypoint, env=list(env), env_files=list(env_file),
                      workdir=workdir, user=user, hostname=hostname, name=name, remove=remove, detach=detach,
                      interactive=interactive, tty=tty, attach=list(attach), network=network, volumes=list(volume),
                      read_only=read_only, cap_add=list(cap_add), cap_drop=list(cap_drop), privileged=privileged,
                      security_opt=list(security_opt), memory=memory, memory_swap=memory_swap, cpus=cpus,
                      cpu_shares=cpu_shares, pids_limit=pids_limit, platform=platform, pull=pull,
                      restart=restart, mounts=list(mounts), tmpfs=list(tmpfs), volumes_from=list(volumes_from),
                      group_add=list(group_add), publish=list(publish), publish_all=publish_all,
                      devices=list(device), userns=userns)


def create(image, command, name, remove, detach, interactive, tty, attach, env, env_file, workdir, user, group_add,
           entrypoint, hostname, network, publish, publish_all, volume, mounts, tmpfs, volumes_from, read_only,
           cap_add, cap_drop, privileged, userns, device, security_opt, memory, memory_swap, cpus, cpu_shares,
           pids_limit, platform, pull, restart) -> int:
    """Create a new container from an image (without starting it); prints its ID."""
    opts = _options(**locals())  # (first: locals() are the flags)
    from pocketbox.engine.containers import Containers

    containers = Containers()
    try:
        record = containers.create(opts, _image_for_run(containers, opts))
    except PocketboxError as e:  # Docker's create: 125, as run's
        e.exit_code = 125
        raise
    print(record["Id"])
    return 0


def run(image, command, name, remove, detach, interactive, tty, attach, env, env_file, workdir, user, group_add,
        entrypoint, hostname, network, publish, publish_all, volume, mounts, tmpfs, volumes_from, read_only, cap_add,
        cap_drop, privileged, userns, device, security_opt, memory, memory_swap, cpus, cpu_shares, pids_limit,
        platform, pull, restart) -> int:
    """Create and run a new container from an image."""
    opts = _options(**locals())  # (first: locals() are the flags)
    from pocketbox.engine.containers import Containers

    if tty and not sys.stdin.isatty() and interactive:
        raise PocketboxError("the input device is not a TTY", 1)
    if detach and attach:
        raise PocketboxError("conflicting options: cannot specify both --attach and --detach")
    containers = Containers()
    try:
        record = containers.create(opts, _image_for_run(containers, opts))
    except PocketboxError as e:  # Docker's run: everything that goes wrong before the command is 125
        e.exit_code = 125
        raise
    if detach or tty or restart != "no":  # a supervisor keeps the container (and its terminal) after we leave
        from pocketbox.engine.lifecycle import Lifecycle

        life = Lifecycle(containers)
        try:
            if detach:
                life.start(record["Id"])
                print(record["Id"])
                return 0
            return attach_and_start(life, record, interactive)
        except PocketboxError:
            if remove:
                containers.remove(record["Id"], force=True, volumes=True)
            raise
    code = 125
    try:
        code = containers.run(record, report=None, attach=list(attach) or None)
    finally:
        if remove:
            containers.remove(record["Id"], force=True, volumes=True)
    return code


def attach_and_start(life, record, stdin: bool) -> int:
    """Start under a supervisor that waits for us, attach, relay; 0 if the user detached."""
    from pocketbox import attach as client

    _, ready = life.start(record["Id"], wait_attach=True)
    sock = client.connect(str(life.engine.dir(record["Id"])))
    life.wait_started(record["Id"], ready)
    code = client.stream(sock, record["Config"]["Tty"], stdin)
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


def exec_(container, command, interactive, tty, detach, env, workdir, user) -> int:
    """Run a command in a running container (joins its namespaces, cgroup and confinement)."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.lifecycle import exec_process

    if tty and interactive and not sys.stdin.isatty():
        raise PocketboxError("the input device is not a TTY", 1)
    try:
        return exec_process(Containers(), container, list(command), interactive=interactive, tty=tty, env=list(env),
                            workdir=workdir, user=user, detach=detach)
    except PocketboxError as e:
        if e.exit_code == 127:  # Docker's exec: a command that cannot be run is 126, found or not
            e.exit_code = 126
        raise
