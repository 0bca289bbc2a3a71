"""Container commands: run, ps, rm, inspect, container prune."""
import functools
import sys
import time

import click

from pocketbox.cli import container_run
from pocketbox.text.format import created_at, human_duration, human_size, inspect_output, listing, moment, parse_time, \
    status_text
from pocketbox.cli.main import CONTEXT, LazyGroup, cli, for_each, needs_root, prune_confirmed
from pocketbox.errors import PocketboxError

RUN_CONTEXT = {**CONTEXT, "allow_interspersed_args": False}


@click.group(cls=LazyGroup, context_settings=CONTEXT)
def container():
    """Manage containers."""


container.lazy = {n: ("share_commands",) for n in ("commit", "export", "diff")}


def _from_spec(spec, name: str, function):
    """A click command with the arguments and options `spec` declares, calling `function` (which
    returns the exit code). The same spec serves the click-free fast path (cli/quickparse.py)."""
    @functools.wraps(function)
    def callback(**params):
        from pocketbox.state import require_root

        require_root()
        sys.exit(function(**params))

    for o in reversed(spec.options):
        kw = {"help": o.help}
        if o.kind == "flag":
            kw["is_flag"] = True
        elif o.kind == "multi":
            kw["multiple"] = True
        if o.choices:
            kw["type"] = click.Choice(o.choices)
        elif o.integer:
            kw["type"] = int
        if o.default is not None:
            kw.update(default=o.default, show_default=True)
        callback = click.option(*o.decls, o.dest, **kw)(callback)
    callback = click.argument(spec.rest, nargs=-1, required=spec.rest_required, type=click.UNPROCESSED)(callback)
    callback = click.argument(spec.first)(callback)
    return click.command(name, context_settings=RUN_CONTEXT)(callback)


run = _from_spec(container_run.RUN, "run", container_run.run)
create = _from_spec(container_run.RUN, "create", container_run.create)
exec_ = _from_spec(container_run.EXEC, "exec", container_run.exec_)


def _command_text(record: dict, no_trunc: bool) -> str:
    words = [record["Path"]] + record.get("Args", [])
    text = " ".join(f"'{w}'" if (not w or any(c.isspace() for c in w)) else w for w in words)
    if not no_trunc and len(text) > 20:
        text = text[:19] + "…"
    return f'"{text}"'


PS_DEFAULT = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND", "CreatedAt": "CREATED AT",
              "RunningFor": "CREATED", "Ports": "PORTS", "State": "STATE", "Status": "STATUS", "Size": "SIZE",
              "Names": "NAMES", "Labels": "LABELS", "Label": lambda *a: "LABEL", "Mounts": "MOUNTS",
              "Networks": "NETWORKS", "LocalVolumes": "LOCAL VOLUMES"}


@click.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Filter output: id, name (a regex), label, status, exited, ancestor, before, since, volume, "
                   "network, health, publish, expose.")
@click.option("--format", "fmt", help="Format with a Go template ('table {{.Names}}\\t{{.Status}}', or json).")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states).")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states).")
@click.option("-s", "--size", is_flag=True, help="Display total file sizes.")
@needs_root
def ps(all_, quiet, no_trunc, filters, fmt, last, latest, size):
    """List containers."""
    from pocketbox.engine import filters as f
    from pocketbox.engine.containers import Containers

    engine = Containers()
    records = engine.all()
    wanted = f.parse(filters, f.CONTAINER_KEYS)
    if latest:
        last = 1
    size = size or ".Size" in (fmt or "")  # (as Docker: a template that shows sizes computes them)
    if not all_ and last < 0 and not {"status", "exited"} & set(wanted):
        records = [r for r in records if r["State"]["Status"] in ("running", "paused", "restarting")]
    records = f.containers(records, wanted, engine.find)
    if last >= 0:
        records = records[:last]
    if quiet:
        if records:
            click.echo("\n".join(r["Id"] if no_trunc else r["Id"][:12] for r in records))
        return
    rows = [_ps_row(engine, r, no_trunc, size) for r in records]
    out = listing(rows, fmt, PS_DEFAULT + ("\t{{.Size}}" if size else ""), PS_HEADERS)
    if out is not None:
        click.echo(out)


def _ps_row(engine, r: dict, no_trunc: bool, size: bool) -> dict:
    """What Docker's ps templates see of a container (its formatter's fields, as strings)."""
    from pocketbox.engine.filters import networks_of

    created = parse_time(r["Created"])
    labels = r["Config"].get("Labels") or {}
    mounts = [m.get("Name") or m.get("Source", "") for m in r.get("Mounts", [])]
    row = {"Command": _command_text(r, no_trunc),
           "CreatedAt": created_at(r["Created"]),
           "ID": r["Id"] if no_trunc else r["Id"][:12], "Image": r["ImageName"],
           "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
           "LocalVolumes": str(sum(1 for m in r.get("Mounts", []) if m["Type"] == "volume")),
           "Mounts": ",".join(m if no_trunc else m[:15] for m in mounts), "Names": r["Name"].lstrip("/"),
           "Networks": ",".join(sorted(networks_of(r))), "Ports": _ports_text(r),
           "RunningFor": human_duration(time.time() - created) + " ago" if created else "",
           "Size": "", "State": r["State"]["Status"], "Status": status_text(r["State"]),
           "Label": lambda key: labels.get(key, "")}
    if size:
        rw, virtual = engine.sizes(r)
        row["Size"] = f"{human_size(rw)} (virtual {human_size(virtual)})"
    return row


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
        click.echo("\n".join(b.shown_address() for b in bindings))
        return
    if bindings:
        click.echo("\n".join(f"{b.key} -> {b.shown_address()}" for b in bindings))


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
                    from pocketbox.engine.networking import with_networks

                    out.append(with_networks(engine.find(n), engine.store.root))
                    continue
                except PocketboxError:
                    if kind == "container":
                        raise
            out.append(inspect_image(engine.store, find_image(engine.store, n)))
        except PocketboxError:
            click.echo(f"pocketbox: No such object: {n}", err=True)
            failed = True
    text = inspect_output(out, template)
    if text is not None:
        click.echo(text)
    if failed:
        sys.exit(1)


@click.command("prune", context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@needs_root
def container_prune(force):
    """Remove all stopped containers."""
    from pocketbox.engine.containers import Containers

    if not prune_confirmed(force, "This will remove all stopped containers."):
        return
    removed = Containers().prune()
    if removed:
        click.echo("Deleted Containers:")
        click.echo("\n".join(removed))
        click.echo("")
    click.echo("Total reclaimed space: 0B" if not removed else f"Total reclaimed containers: {len(removed)}")


@click.command("inspect", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "template", help="Format with a Go template: '{{.State.Status}}'.")
@click.pass_context
def container_inspect(ctx, names, template):
    """Show the JSON record of one or more containers."""
    ctx.invoke(inspect, names=names, kind="container", template=template)


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("-a", "--attach", "attach_", is_flag=True, help="Attach STDOUT/STDERR and forward signals.")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN.")
@click.option("--detach-keys", help="Override the key sequence for detaching a container (default ctrl-p,ctrl-q).")
@needs_root
def start(containers, attach_, interactive, detach_keys):
    """Start one or more stopped containers (same filesystem, same config)."""
    from pocketbox.engine.lifecycle import Lifecycle

    life = Lifecycle()
    if attach_ or interactive:
        if len(containers) > 1:
            raise PocketboxError("you cannot start and attach multiple containers at once")
        record = life.engine.find(containers[0])
        sys.exit(container_run.attach_and_start(life, record, interactive, detach_keys))
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
@click.option("--detach-keys", help="Override the key sequence for detaching a container (default ctrl-p,ctrl-q).")
@needs_root
def attach(container, no_stdin, detach_keys):
    """Attach the terminal to a running container (Ctrl-P Ctrl-Q detaches)."""
    from pocketbox import attach as client
    from pocketbox.engine.lifecycle import Lifecycle

    keys = client.parse_detach_keys(detach_keys)
    life = Lifecycle()
    record = life.engine.find(container)
    if record["State"]["Status"] != "running":
        raise PocketboxError("You cannot attach to a stopped container, start it first")
    try:
        sock = client.connect(str(life.engine.dir(record["Id"])))
    except OSError:
        raise PocketboxError(f"container {record['Id'][:12]} has no supervisor to attach to "
                             "(it was started in the foreground)") from None
    code = client.stream(sock, record["Config"]["Tty"], not no_stdin and record["Config"]["OpenStdin"], keys)
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
    from pocketbox.logs import read_all, read_entries

    life = Lifecycle()
    record = life.engine.find(container)
    if (record["HostConfig"].get("LogConfig") or {}).get("Type") == "none":
        raise PocketboxError("configured logging driver does not support reading")
    path = life.log_path(record)
    cutoff = moment(since, "--since") if since else None
    entries, offset = read_all(path)
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


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.argument("new_name")
@needs_root
def rename(container, new_name):
    """Rename a container."""
    from pocketbox.engine.containers import Containers

    Containers().rename(container, new_name)


STATS_DEFAULT = ("table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
                 "\t{{.PIDs}}")
STATS_HEADERS = {"Container": "CONTAINER", "ID": "CONTAINER ID", "Name": "NAME", "CPUPerc": "CPU %",
                 "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET I/O", "BlockIO": "BLOCK I/O",
                 "PIDs": "PIDS"}


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.option("--format", "fmt", help="Format with a Go template ('table {{.Name}}\\t{{.CPUPerc}}'), or json.")
@needs_root
def stats(containers, all_, no_stream, no_trunc, fmt):
    """Display a live stream of containers' resource usage (from their cgroups)."""
    from pocketbox.text.format import go_size
    from pocketbox.engine import stats as collect
    from pocketbox.engine.containers import Containers

    engine = Containers()

    def chosen():
        if containers:
            return [engine.find(c) for c in containers]
        return [r for r in engine.all() if all_ or r["State"]["Status"] in ("running", "paused")]
    before = {r["Id"]: collect.sample(r) for r in chosen()}
    while True:
        time.sleep(0.5 if no_stream else 1.0)
        rows = []
        for r in chosen():
            now = collect.sample(r)
            n = collect.row(before.get(r["Id"], now), now)
            before[r["Id"]] = now
            running = r["State"]["Status"] in ("running", "paused")
            rows.append({"Container": r["Id"][:12] if not containers else containers[len(rows)],
                         "ID": r["Id"] if no_trunc else r["Id"][:12], "Name": r["Name"].lstrip("/"),
                         "CPUPerc": f"{n['CPUPerc']:.2f}%" if running else "--",
                         "MemUsage": f"{go_size(n['MemUsage'], True)} / {go_size(n['MemLimit'], True)}"
                         if running else "-- / --",
                         "MemPerc": f"{n['MemPerc']:.2f}%" if running else "--",
                         "NetIO": f"{go_size(n['NetRx'])} / {go_size(n['NetTx'])}" if running else "--",
                         "BlockIO": f"{go_size(n['BlockRead'])} / {go_size(n['BlockWrite'])}" if running else "--",
                         "PIDs": str(n["PIDs"]) if running else "--"})
        out = listing(rows, fmt, STATS_DEFAULT, STATS_HEADERS)
        if not no_stream:
            click.echo("\033[2J\033[H", nl=False)
        if out is not None:
            click.echo(out)
        if no_stream:
            return


@click.command(context_settings={**CONTEXT, "ignore_unknown_options": True})
@click.argument("container")
@click.argument("ps_options", nargs=-1, type=click.UNPROCESSED)
@needs_root
def top(container, ps_options):
    """Display the running processes of a container (the host's ps, its processes only)."""
    from pocketbox.text.gotemplate import tabulate
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.stats import processes

    titles, rows = processes(Containers(), container, list(ps_options))
    click.echo(tabulate(["\t".join(titles)] + ["\t".join(r) for r in rows], minwidth=20))


@click.command(context_settings=CONTEXT)
@click.argument("containers", nargs=-1, required=True)
@click.option("--cpus", help="Number of CPUs.")
@click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight).")
@click.option("--cpu-period", type=int, help="Limit CPU CFS (Completely Fair Scheduler) period.")
@click.option("--cpu-quota", type=int, help="Limit CPU CFS (Completely Fair Scheduler) quota.")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1).")
@click.option("--cpuset-mems", help="MEMs in which to allow execution (0-3, 0,1).")
@click.option("-m", "--memory", help="Memory limit.")
@click.option("--memory-reservation", help="Memory soft limit.")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap.")
@click.option("--pids-limit", type=int, help="Tune container pids limit (-1 for unlimited).")
@click.option("--restart", help="Restart policy to apply when a container exits.")
@needs_root
def update(containers, **changes):
    """Update configuration of one or more containers (limits apply at once to running ones)."""
    from pocketbox.engine.update import update_container

    for_each(containers, lambda ref: update_container(ref, changes))


def _container_path(arg: str) -> tuple[str | None, str]:
    """Docker's split of a cp argument: CONTAINER:PATH, or a local path (one that starts with / or
    . may hold a colon)."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None, arg
    name, _, path = arg.partition(":")
    return name, path


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.argument("destination")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@needs_root
def cp(source, destination, archive, follow_link):
    """Copy files/folders between a container and the local filesystem.

    \b
    pocketbox cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
    pocketbox cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.copy import copy_in, copy_out

    (src_ctr, src_path), (dst_ctr, dst_path) = _container_path(source), _container_path(destination)
    if src_ctr and dst_ctr:
        raise PocketboxError("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise PocketboxError("must specify at least one container source")
    engine = Containers()
    if src_ctr:
        copy_out(engine, src_ctr, src_path or "/", dst_path, follow_link)
    else:
        copy_in(engine, src_path, dst_ctr, dst_path or "/", follow_link, archive)


for command in (run, create, ps, rm, inspect, start, stop, restart, kill, wait, pause, unpause, attach, logs, exec_,
                port, rename, stats, top, update, cp):
    cli.add_command(command)
cli.add_command(container)
container.add_command(run)
container.add_command(create)
container.add_command(rename)
container.add_command(ps, "ls")
container.add_command(rm)
container.add_command(container_inspect)
container.add_command(container_prune)
for command in (start, stop, restart, kill, wait, pause, unpause, attach, logs, exec_, port, stats, top, update, cp):
    container.add_command(command)
