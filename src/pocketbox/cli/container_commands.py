"""Container commands: run, ps, rm, inspect, container prune."""
import json
import sys
import time

import click

from pocketbox.cli.format import human_duration, parse_time, table
from pocketbox.cli.main import CONTEXT, LazyGroup, cli, for_each, needs_root
from pocketbox.errors import PocketboxError

RUN_CONTEXT = {**CONTEXT, "allow_interspersed_args": False}


@click.group(cls=LazyGroup, context_settings=CONTEXT)
def container():
    """Manage containers."""


container.lazy = {n: ("share_commands",) for n in ("commit", "export", "diff")}


@click.command(context_settings=RUN_CONTEXT)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.option("--name", help="Assign a name to the container.")
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits.")
@click.option("-d", "--detach", is_flag=True, help="Run the container in the background and print its ID.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-a", "--attach", multiple=True, type=click.Choice(["stdin", "stdout", "stderr"]),
              help="Attach to STDIN, STDOUT or STDERR.")
@click.option("-e", "--env", multiple=True, help="Set environment variables (KEY=VALUE, or KEY to copy the host's).")
@click.option("--env-file", multiple=True, help="Read environment variables from a file.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("--group-add", multiple=True, help="Add additional groups to join (name or GID).")
@click.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image.")
@click.option("-h", "--hostname", help="Container host name.")
@click.option("--network", "--net", default="bridge", show_default=True,
              help="bridge (the default network), a network made with `network create`, host, none or "
                   "container:NAME.")
@click.option("-p", "--publish", multiple=True,
              help="Publish a container's port to the host: [ip:][host_port:]container_port[/tcp|/udp].")
@click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to free host ports.")
@click.option("-v", "--volume", multiple=True,
              help="Bind mount /host/path:/ctr/path[:ro], a named volume NAME:/ctr/path[:ro], or an anonymous /ctr/path.")
@click.option("--mount", "mounts", multiple=True, help="type=bind|volume|tmpfs,source=...,target=...[,readonly].")
@click.option("--tmpfs", multiple=True, help="Mount a tmpfs: /ctr/path[:size=64m,mode=1777].")
@click.option("--volumes-from", multiple=True, help="Mount the volumes of another container: CONTAINER[:ro|rw].")
@click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only.")
@click.option("--cap-add", multiple=True, help="Add Linux capabilities.")
@click.option("--cap-drop", multiple=True, help="Drop Linux capabilities.")
@click.option("--privileged", is_flag=True, help="Give extended privileges to this container.")
@click.option("--userns", default="host", show_default=True,
              help="host, or auto: the container's root is an unprivileged host user (/etc/subuid's pocketbox "
                   "range, else 100000-165535).")
@click.option("--device", multiple=True, help="Add a host device: /dev/HOST[:/dev/CONTAINER][:rwm].")
@click.option("--security-opt", multiple=True, help="Security options (no-new-privileges).")
@click.option("-m", "--memory", help="Memory limit (e.g. 32m).")
@click.option("--memory-swap", help="Memory + swap limit; -1 for unlimited swap.")
@click.option("--cpus", help="Number of CPUs (e.g. 0.5).")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--pids-limit", type=int, help="Tune container pids limit (-1 for unlimited).")
@click.option("--platform", help="Pull this platform if the image is missing.")
@click.option("--pull", type=click.Choice(["missing", "always", "never"]), default="missing", show_default=True,
              help="Pull the image before running.")
@click.option("--restart", default="no", show_default=True,
              help="Restart policy: no, on-failure[:max-retries], always, unless-stopped.")
@needs_root
def run(image, command, name, remove, detach, interactive, tty, attach, env, env_file, workdir, user, group_add, entrypoint,
        hostname,
        network, publish, publish_all, volume, mounts, tmpfs, volumes_from, read_only, cap_add, cap_drop, privileged, userns, device, security_opt, memory, memory_swap, cpus,
        cpu_shares, pids_limit, platform, pull, restart):
    """Create and run a new container from an image."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.options import RunOptions

    opts = RunOptions(image=image, command=list(command), entrypoint=entrypoint, env=list(env), env_files=list(env_file),
                      workdir=workdir, user=user, hostname=hostname, name=name, remove=remove,
                      interactive=interactive, tty=tty, attach=list(attach), network=network, volumes=list(volume),
                      read_only=read_only, cap_add=list(cap_add), cap_drop=list(cap_drop), privileged=privileged,
                      security_opt=list(security_opt), memory=memory, memory_swap=memory_swap, cpus=cpus,
                      cpu_shares=cpu_shares, pids_limit=pids_limit, platform=platform, pull=pull,
                      restart=restart, mounts=list(mounts), tmpfs=list(tmpfs), volumes_from=list(volumes_from),
                      group_add=list(group_add), publish=list(publish), publish_all=publish_all,
                      devices=list(device), userns=userns)
    if tty and not sys.stdin.isatty() and interactive:
        raise PocketboxError("the input device is not a TTY")
    if detach and attach:
        raise PocketboxError("conflicting options: cannot specify both --attach and --detach")
    containers = Containers()
    record = containers.create(opts, _image_for_run(containers, opts))
    if detach or tty or restart != "no":  # a supervisor keeps the container (and its terminal) after we leave
        from pocketbox.engine.lifecycle import Lifecycle

        life = Lifecycle(containers)
        try:
            if detach:
                life.start(record["Id"])
                click.echo(record["Id"])
                return
            sys.exit(_attach_and_start(life, record, interactive))
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
    sys.exit(code)


def _attach_and_start(life, record, stdin: bool) -> int:
    """Start under a supervisor that waits for us, attach, relay; 0 if the user detached."""
    from pocketbox import attach as client

    _, ready = life.start(record["Id"], wait_attach=True)
    sock = client.connect(str(life.engine.dir(record["Id"])))
    life.wait_started(record["Id"], ready)
    code = client.stream(sock, record["Config"]["Tty"], stdin)
    if code == client.DETACHED:
        click.echo("", err=True)
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
        click.echo(f"Unable to find image '{ref.familiar()}' locally", err=True)
    click.echo(f"{ref.digest or ref.tag}: Pulling from {ref.path}", err=True)
    result = do_pull(ref, parse_platform(opts.platform) if opts.platform else None, progress=PullProgress(sys.stderr))
    click.echo(f"Digest: {result.manifest_digest}", err=True)
    click.echo(f"Status: Downloaded newer image for {ref.familiar()}", err=True)
    return containers.store.image(result.image_id)


def status_text(state: dict) -> str:
    """Docker's STATUS column: Created, Up 3 seconds, Exited (0) 5 seconds ago."""
    status = state["Status"]
    if status == "running":
        started = parse_time(state.get("StartedAt", ""))
        return "Up " + human_duration(time.time() - started) if started else "Up"
    if status == "paused":
        started = parse_time(state.get("StartedAt", ""))
        return f"Up {human_duration(time.time() - started)} (Paused)" if started else "Up (Paused)"
    if status == "restarting":
        finished = parse_time(state.get("FinishedAt", ""))
        ago = f" {human_duration(time.time() - finished)} ago" if finished else ""
        return f"Restarting ({state.get('ExitCode', 0)}){ago}"
    if status == "exited":
        finished = parse_time(state.get("FinishedAt", ""))
        ago = f" {human_duration(time.time() - finished)} ago" if finished else ""
        return f"Exited ({state.get('ExitCode', 0)}){ago}"
    return status.capitalize()


def _command_text(record: dict, no_trunc: bool) -> str:
    words = [record["Path"]] + record.get("Args", [])
    text = " ".join(f"'{w}'" if (not w or any(c.isspace() for c in w)) else w for w in words)
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output (name=..., status=..., id=...).")
@needs_root
def ps(all_, quiet, no_trunc, filters):
    """List containers."""
    from pocketbox.engine.containers import Containers
    from pocketbox.errors import PocketboxError

    records = Containers().all()
    wanted: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep or key not in ("name", "status", "id"):
            raise PocketboxError(f"invalid filter {f!r} (pocketbox knows name=, status=, id=)")
        wanted.setdefault(key, []).append(value)
    if not all_ and "status" not in wanted:
        records = [r for r in records if r["State"]["Status"] in ("running", "paused", "restarting")]
    for key, values in wanted.items():
        if key == "name":
            records = [r for r in records if any(v in r["Name"].lstrip("/") for v in values)]
        elif key == "status":
            records = [r for r in records if r["State"]["Status"] in values]
        else:
            records = [r for r in records if any(r["Id"].startswith(v) for v in values)]
    ident = (lambda r: r["Id"]) if no_trunc else (lambda r: r["Id"][:12])
    if quiet:
        if records:
            click.echo("\n".join(ident(r) for r in records))
        return
    rows = []
    for r in records:
        created = parse_time(r["Created"])
        rows.append([ident(r), r["ImageName"], _command_text(r, no_trunc),
                     human_duration(time.time() - created) + " ago" if created else "",
                     status_text(r["State"]), _ports_text(r), r["Name"].lstrip("/")])
    click.echo(table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows))


def _ports_text(record: dict) -> str:
    ports = (record.get("NetworkSettings") or {}).get("Ports")
    if not ports or record["State"]["Status"] not in ("running", "paused"):
        return ""
    from pocketbox.network.ports import summary

    return summary(ports)


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.argument("private_port", required=False)
@needs_root
def port(container, private_port):
    """List a container's published ports: 80/tcp -> 0.0.0.0:8080."""
    from pocketbox.engine.containers import Containers
    from pocketbox.network.ports import from_docker

    record = Containers().find(container)
    bindings = from_docker((record.get("NetworkSettings") or {}).get("Ports") or {})
    if private_port:
        want = private_port if "/" in private_port else f"{private_port}/tcp"
        bindings = [b for b in bindings if b.key == want]
        if not bindings:
            raise PocketboxError(f"No public port '{want}' published for {container}")
        click.echo("\n".join(f"{b.shown_ip()}:{b.host_port}" for b in bindings))
        return
    if bindings:
        click.echo("\n".join(f"{b.key} -> {b.shown_ip()}:{b.host_port}" for b in bindings))


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("-v", "--volumes", is_flag=True, help="Remove the anonymous volumes of the container.")
@needs_root
def rm(containers, force, volumes):
    """Remove one or more containers."""
    from pocketbox.engine.containers import Containers

    engine = Containers()
    for_each(containers, lambda ref: engine.remove(ref, force, volumes))


@click.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("--type", "kind", type=click.Choice(["container", "image"]), help="Only look for this kind of object.")
@click.option("-f", "--format", "template", help="Format with a Go-style template: '{{.NetworkSettings.IPAddress}}'.")
@needs_root
def inspect(names, kind, template):
    """Show the JSON record of containers or images."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.images import find_image, inspect_image
    from pocketbox.errors import PocketboxError

    engine = Containers()
    out, failed = [], False
    for n in names:
        try:
            if kind != "image":
                try:
                    out.append(engine.find(n))
                    continue
                except PocketboxError:
                    if kind == "container":
                        raise
            out.append(inspect_image(engine.store, find_image(engine.store, n)))
        except PocketboxError:
            click.echo(f"pocketbox: No such object: {n}", err=True)
            failed = True
    if template is not None:
        from pocketbox.cli.format import render_template

        try:
            lines = [render_template(template, record) for record in out]
        except ValueError as e:
            raise PocketboxError(str(e)) from None
        if lines:
            click.echo("\n".join(lines))
    else:
        click.echo(json.dumps(out, indent=4))
    if failed:
        sys.exit(1)


@click.command("prune", context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@needs_root
def container_prune(force):
    """Remove all stopped containers."""
    from pocketbox.engine.containers import Containers

    if not force:
        click.echo("WARNING! This will remove all stopped containers.")
        if not click.confirm("Are you sure you want to continue?", default=False):
            return
    removed = Containers().prune()
    if removed:
        click.echo("Deleted Containers:")
        click.echo("\n".join(removed))
        click.echo("")
    click.echo("Total reclaimed space: 0B" if not removed else f"Total reclaimed containers: {len(removed)}")


@click.command("inspect", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def container_inspect(ctx, names):
    """Show the JSON record of one or more containers."""
    ctx.invoke(inspect, names=names, kind="container")


@click.command("exec", context_settings=RUN_CONTEXT)
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background.")
@click.option("-e", "--env", multiple=True, help="Set environment variables.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@needs_root
def exec_(container, command, interactive, tty, detach, env, workdir, user):
    """Run a command in a running container (joins its namespaces, cgroup and confinement)."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.lifecycle import exec_process

    if tty and interactive and not sys.stdin.isatty():
        raise PocketboxError("the input device is not a TTY")
    code = exec_process(Containers(), container, list(command), interactive=interactive, tty=tty, env=list(env),
                        workdir=workdir, user=user, detach=detach)
    sys.exit(code)


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("-a", "--attach", "attach_", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@needs_root
def start(containers, attach_, interactive):
    """Start one or more stopped containers (same filesystem, same config)."""
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()
    if attach_ or interactive:
        if len(containers) > 1:
            raise PocketboxError("you cannot start and attach multiple containers at once")
        record = life.engine.find(containers[0])
        sys.exit(_attach_and_start(life, record, interactive))
    for_each(containers, life.start)


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing the container (default 10).")
@click.option("-s", "--signal", "sig", help="Signal to send (default: the image's StopSignal, or SIGTERM).")
@needs_root
def stop(containers, timeout, sig):
    """Stop one or more running containers: the stop signal, then SIGKILL after the timeout."""
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()
    for_each(containers, lambda ref: life.stop(ref, timeout, sig))


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("-t", "--time", "timeout", type=int, help="Seconds to wait before killing the container (default 10).")
@click.option("-s", "--signal", "sig", help="Signal to stop it with.")
@needs_root
def restart(containers, timeout, sig):
    """Restart one or more containers."""
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()

    def again(ref):
        life.stop(ref, timeout, sig)
        life.start(ref)
    for_each(containers, again)


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("-s", "--signal", "sig", default="KILL", show_default=True, help="Signal to send (name or number).")
@needs_root
def kill(containers, sig):
    """Send a signal to the main process of one or more running containers."""
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()
    for_each(containers, lambda ref: life.kill(ref, sig))


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@needs_root
def wait(containers):
    """Block until one or more containers stop, then print their exit codes."""
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()
    for_each(containers, lambda ref: life.wait_exited(life.engine.find(ref)["Id"], timeout=None),
             show=lambda record: record["State"]["ExitCode"])


def _freezer_command(name: str, paused: bool, doc: str):
    """pause and unpause: the same act on the cgroup freezer, in two directions."""
    @click.command(name, context_settings=CONTEXT, help=doc)
    @click.argument("containers", nargs=-1, required=True)
    @needs_root
    def command(containers):
        from pocketbox.engine.lifecycle import Lifecycle

        life = Lifecycle()
        for_each(containers, lambda ref: life.pause(ref, paused))
    return command


pause = _freezer_command("pause", True, "Freeze all processes of one or more containers (the cgroup freezer).")
unpause = _freezer_command("unpause", False, "Thaw all processes of one or more paused containers.")


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@needs_root
def attach(container, no_stdin):
    """Attach the terminal to a running container (Ctrl-P Ctrl-Q detaches)."""
    from pocketbox import attach as client
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()
    record = life.engine.find(container)
    if record["State"]["Status"] != "running":
        raise PocketboxError("You cannot attach to a stopped container, start it first")
    try:
        sock = client.connect(str(life.engine.dir(record["Id"])))
    except OSError:
        raise PocketboxError(f"container {record['Id'][:12]} has no supervisor to attach to "
                             "(it was started in the foreground)") from None
    code = client.stream(sock, record["Config"]["Tty"], not no_stdin and record["Config"]["OpenStdin"])
    if code == client.DETACHED:
        click.echo("", err=True)
        sys.exit(0)
    sys.exit(life.wait_exited(record["Id"])["State"]["ExitCode"])


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", help="Show logs since a timestamp (2026-11-28T10:00:00Z) or a relative time (42m, 10s).")
@needs_root
def logs(container, follow, tail, timestamps, since):
    """Fetch the logs of a container (stdout and stderr kept apart)."""
    from pocketbox.engine.lifecycle import Lifecycle
    from pocketbox.logs import read_entries

    life = Lifecycle()
    record = life.engine.find(container)
    path = life.log_path(record)
    cutoff = _since(since) if since else None
    entries, offset = read_entries(path)
    if cutoff is not None:
        entries = [e for e in entries if (parse_time(e["time"]) or 0) >= cutoff]
    if tail != "all":
        try:
            n = int(tail)
        except ValueError:
            raise PocketboxError(f"invalid --tail value {tail!r}: a number or 'all'") from None
        entries = entries[-n:] if n > 0 else []
    _print_entries(entries, timestamps)
    while follow:
        fresh, offset = read_entries(path, offset)
        _print_entries(fresh, timestamps)
        if not fresh:
            if life.engine.find(record["Id"])["State"]["Status"] not in ("running", "paused"):
                fresh, offset = read_entries(path, offset)
                _print_entries(fresh, timestamps)
                break
            time.sleep(0.1)


def _print_entries(entries, timestamps: bool) -> None:
    for e in entries:
        stream = sys.stderr if e.get("stream") == "stderr" else sys.stdout
        stream.write((e["time"] + " " if timestamps else "") + e["log"])
        stream.flush()


def _since(value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(value[:-1]) * units[value[-1]]
    if value.replace(".", "", 1).isdigit():
        return float(value)
    t = parse_time(value)
    if t is None:
        raise PocketboxError(f"invalid --since value {value!r}: a timestamp or a duration like 10m")
    return t


for command in (run, ps, rm, inspect, start, stop, restart, kill, wait, pause, unpause, attach, logs, exec_, port):
    cli.add_command(command)
cli.add_command(container)
container.add_command(run)
container.add_command(ps, "ls")
container.add_command(rm)
container.add_command(container_inspect)
container.add_command(container_prune)
for command in (start, stop, restart, kill, wait, pause, unpause, attach, logs, exec_, port):
    container.add_command(command)
