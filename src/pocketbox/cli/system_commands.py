"""info, version, events, system df, system prune."""
import os
import sys
import time

import click

from pocketbox.text.format import human_size, table
from pocketbox.cli.main import CONTEXT, cli, fail, needs_root, prune_confirmed


@cli.command(context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", help="Format with a Go template ('{{.NCPU}}'), or json.")
@needs_root
def info(fmt):
    """Display system-wide information: containers, images, storage, cgroups, kernel, security."""
    from pocketbox.engine.system import info as collect

    data = collect()
    if fmt:
        from pocketbox.text.format import render_template

        click.echo(render_template("{{json .}}" if fmt == "json" else fmt, data))
        return
    lines = [
        f"Containers: {data['Containers']}",
        f" Running: {data['ContainersRunning']}",
        f" Paused: {data['ContainersPaused']}",
        f" Stopped: {data['ContainersStopped']}",
        f"Images: {data['Images']}",
        f"Volumes: {data['Volumes']}",
        f"Server Version: {data['ServerVersion']} (pocketbox; the CLI needs no daemon)",
        f"Storage Driver: {data['Driver']}",
        f" Backing Filesystem: {data['DriverStatus'][0][1]}",
        f"Root Dir: {data['PocketboxRootDir']}",
        f"Cgroup Driver: {data['CgroupDriver']}",
        f"Cgroup Version: {data['CgroupVersion']} ({data['CgroupMode']})",
        f" Controllers: {' '.join(data['CgroupControllers'])}",
        "Security Options:",
        *[f" {o}" for o in data["SecurityOptions"]],
        f"Kernel Version: {data['KernelVersion']}",
        f"Operating System: {data['OperatingSystem']}",
        f"OSType: {data['OSType']}",
        f"Architecture: {data['Architecture']}",
        f"CPUs: {data['NCPU']}",
        f"Total Memory: {data['MemTotal'] / 2**30:.2f}GiB",
        f"Name: {data['Name']}",
        f"IPv4 Forwarding: {'enabled' if data['IPv4Forwarding'] else 'disabled'}",
    ]
    click.echo("\n".join(lines))
    for w in data["Warnings"]:
        click.echo(w, err=True)


@cli.command(context_settings=CONTEXT)
@click.option("-f", "--format", "fmt", help="Format with a Go template ('{{.Client.Version}}'), or json.")
def version(fmt):
    """Show the pocketbox version information (client and runtime)."""
    from pocketbox.engine.system import version as collect

    data = collect()
    if fmt:
        from pocketbox.text.format import render_template

        click.echo(render_template("{{json .}}" if fmt == "json" else fmt, data))
        return
    c, r = data["Client"], data["Runtime"]
    click.echo(f"Client:\n Version:       {c['Version']}\n Python:        {c['Python']}\n"
               f" OS/Arch:       {c['Os']}/{c['Arch']}\n\nRuntime:\n Name:          {r['Name']}\n"
               f" Version:       {r['Version']}\n OCI spec:      {r['OCIRuntimeSpec']}\n"
               f" Syscalls:      {r['Syscalls']}\n Kernel:        {r['KernelVersion']}")


@cli.group(context_settings=CONTEXT)
def system():
    """Manage pocketbox: disk usage, pruning, events."""


@cli.command(context_settings=CONTEXT)
@click.option("--since", help="Show events created since a timestamp or a duration ago (10m).")
@click.option("--until", help="Stream events until this timestamp or duration ago; without it, follow.")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Filter output: type, event, container, image, volume, network, label.")
@click.option("--format", "fmt", help="Format with a Go template ('{{.Type}} {{.Action}}'), or json.")
@needs_root
def events(since, until, filters, fmt):
    """Get real time events: what happened to containers, images, volumes and networks."""
    from pocketbox import events as log
    from pocketbox.text.format import moment
    from pocketbox.engine import filters as f

    wanted = f.parse(filters, ("type", "event", "container", "image", "volume", "network", "label"))
    start = moment(since, "--since") if since else None
    end = moment(until, "--until") if until else None
    past, position = log.read(start, end)
    shown = past if start is not None or end is not None else []
    for event in shown:
        _print_event(event, wanted, fmt)
    if end is not None:
        return
    try:
        for event in log.follow(position):
            _print_event(event, wanted, fmt)
    except KeyboardInterrupt:
        pass


def _print_event(event: dict, wanted: dict, fmt: str | None) -> None:
    """Docker's line: TIME TYPE ACTION ID (attr=value, ...)."""
    from pocketbox import events as log
    from pocketbox.text.format import go_time, render_template

    if not log.matches(event, wanted):
        return
    if fmt:
        click.echo(render_template("{{json .}}" if fmt == "json" else fmt, event))
    else:
        attributes = event["Actor"]["Attributes"]
        shown = ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes))
        click.echo(f"{go_time(event['timeNano'])} {event['Type']} {event['Action']} {event['Actor']['ID']}"
                   + (f" ({shown})" if shown else ""), nl=True)
    sys.stdout.flush()


system.add_command(events)


@system.command(context_settings=CONTEXT)
@click.option("--socket", "path", default="/run/pocketbox/pocketbox.sock", show_default=True,
              help="The unix socket to listen on (DOCKER_HOST=unix://PATH).")
@needs_root
def service(path):
    """Serve the Docker Engine API, so the docker CLI, docker-py and compose drive pocketbox."""
    from pocketbox.api.server import serve

    serve(path)


cli.add_command(service, "serve")


@cli.command(context_settings=CONTEXT)
@click.option("--listen", default="127.0.0.1:0", show_default=True,
              help="ADDRESS:PORT to serve the page on (port 0: any free one).")
@needs_root
def ui(listen):
    """A local web page: containers, images, volumes and networks, the architecture live, and
    each container's anatomy. Prints the URL (with its token) to open."""
    from pocketbox.ui.server import serve_ui

    serve_ui(listen, announce=lambda line: click.echo(line) or sys.stdout.flush())


@system.command(context_settings=CONTEXT)
@needs_root
def df():
    """Show disk usage of images, containers and volumes."""
    from pocketbox.engine.system import disk_usage

    rows = []
    for r in disk_usage():
        pct = f" ({100 * r['Reclaimable'] // r['Size']}%)" if r["Size"] else ""
        rows.append([r["Type"], str(r["Total"]), str(r["Active"]), human_size(r["Size"]),
                     human_size(r["Reclaimable"]) + pct])
    click.echo(table(["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"], rows))


@system.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("--volumes", is_flag=True, help="Prune anonymous volumes too.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@needs_root
def prune(all_, volumes, force):
    """Remove stopped containers, unused images (and volumes with --volumes)."""
    from pocketbox.engine.system import prune as do_prune

    if not prune_confirmed(force, "This will remove:\n  - all stopped containers\n"
                           + ("  - all anonymous volumes not used by at least one container\n" if volumes else "")
                           + ("  - all images without at least one container associated to them" if all_ else
                              "  - all dangling images")):
        return
    result = do_prune(all_, volumes)
    if result["Containers"]:
        click.echo("Deleted Containers:\n" + "\n".join(result["Containers"]) + "\n")
    if result["Images"]:
        click.echo("Deleted Images:\n" + "\n".join(f"{a.lower()}: {w}" for a, w in result["Images"]) + "\n")
    if result["Volumes"]:
        click.echo("Deleted Volumes:\n" + "\n".join(result["Volumes"]) + "\n")
    click.echo(f"Total reclaimed space: {human_size(result['Freed'])}")


@click.command(context_settings=dict(CONTEXT, ignore_unknown_options=True, allow_interspersed_args=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@needs_root
def compose(args):
    """Run docker-compose ARGS against pocketbox (the Engine API on the service's socket; a
    service of its own for the duration when none is running)."""
    import shutil
    import socket
    import subprocess
    import tempfile

    from pocketbox.api.server import DEFAULT_SOCKET

    program = shutil.which("docker-compose")
    if program is None:
        fail("docker-compose is not installed (Debian: apt-get install docker-compose)", 1)
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(DEFAULT_SOCKET)
        path, server = DEFAULT_SOCKET, None
    except OSError:
        here = tempfile.mkdtemp(prefix="pocketbox-compose-")
        path = os.path.join(here, "pocketbox.sock")
        server = subprocess.Popen([sys.executable, "-m", "pocketbox", "serve", "--socket", path],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  start_new_session=True)  # (a Ctrl-C is for compose, not for the service)
        for _ in range(200):
            if os.path.exists(path) or server.poll() is not None:
                break
            time.sleep(0.025)
        if not os.path.exists(path):
            fail("the Engine API service did not start (try `pocketbox serve` to see why)")
    finally:
        probe.close()
    import signal

    try:  # Ctrl-C is compose's to handle (it stops the services gracefully): we wait for it
        child = subprocess.Popen([program, *args], env={**os.environ, "DOCKER_HOST": f"unix://{path}"})
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        code = child.wait()
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    sys.exit(code)


cli.add_command(compose)
