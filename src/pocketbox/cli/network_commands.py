"""network create/ls/inspect/rm/prune."""
import sys

import click

from pocketbox.cli.main import CONTEXT, cli, for_each, needs_root, prune_confirmed
from pocketbox.cli.volume_commands import _labels
from pocketbox.errors import PocketboxError


@cli.group(context_settings=CONTEXT)
def network():
    """Manage networks."""


@network.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-d", "--driver", default="bridge", show_default=True, help="Driver (pocketbox has bridge).")
@click.option("--subnet", help="Subnet in CIDR form (a free 172.x.0.0/16 if not given).")
@click.option("--gateway", help="The bridge's address in the subnet (its first address if not given).")
@click.option("--internal", is_flag=True, help="No outbound traffic (no masquerade).")
@click.option("--label", multiple=True, help="Set metadata on the network (key=value).")
@needs_root
def create(name, driver, subnet, gateway, internal, label):
    """Create a network: a bridge, its subnet, names resolvable between its containers."""
    from pocketbox.network.networks import Networks

    if driver != "bridge":
        raise PocketboxError(f"plugin \"{driver}\" not found (pocketbox has the bridge driver)")
    click.echo(Networks().create(name, subnet, gateway, internal, _labels(label))["Id"])


@network.command("ls", context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output: name, id, label, driver.")
@click.option("--format", "fmt", help="Format with a Go template ('table {{.Name}}\\t{{.Driver}}', or json).")
@needs_root
def ls(quiet, no_trunc, filters, fmt):
    """List networks."""
    from pocketbox.text.format import created_at, listing
    from pocketbox.engine import filters as f
    from pocketbox.network.networks import Networks

    nets = Networks().all()
    for key, values in f.parse(filters, ("name", "id", "label", "driver")).items():
        if key == "label":
            nets = [n for n in nets if f.label_matches(n.get("Labels") or {}, values)]
        else:
            field = {"name": "Name", "id": "Id", "driver": "Driver"}[key]
            nets = [n for n in nets if any(v in n[field] for v in values)]
    ident = (lambda n: n["Id"]) if no_trunc else (lambda n: n["Id"][:12])
    if quiet:
        if nets:
            click.echo("\n".join(ident(n) for n in nets))
        return
    out = listing([{"CreatedAt": created_at(n.get("Created", "")), "Driver": n["Driver"], "ID": ident(n),
                    "IPv6": "true" if n.get("EnableIPv6") else "false",
                    "Internal": "true" if n.get("Internal") else "false",
                    "Labels": ",".join(f"{k}={v}" for k, v in sorted((n.get("Labels") or {}).items())),
                    "Name": n["Name"], "Scope": n["Scope"],
                    "Label": (lambda labels: lambda key: labels.get(key, ""))(n.get("Labels") or {})}
                   for n in nets], fmt, "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", NETWORK_HEADERS)
    if out is not None:
        click.echo(out)


NETWORK_HEADERS = {"CreatedAt": "CREATED AT", "Driver": "DRIVER", "ID": "NETWORK ID", "IPv6": "IPV6",
                   "Internal": "INTERNAL", "Labels": "LABELS", "Name": "NAME", "Scope": "SCOPE",
                   "Label": lambda *a: "LABEL"}


@network.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "template", help="Format with a Go template: '{{.IPAM.Config}}'.")
@needs_root
def inspect(names, template):
    """Show the JSON record of one or more networks, with their containers."""
    from pocketbox.network.networks import Networks

    networks, out, failed = Networks(), [], False
    for n in names:
        try:
            out.append(networks.view(networks.find(n)))
        except PocketboxError as e:
            click.echo(f"pocketbox: {e}", err=True)
            failed = True
    from pocketbox.text.format import inspect_output

    text = inspect_output(out, template)
    if text is not None:
        click.echo(text)
    if failed:
        sys.exit(1)


@network.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.argument("container")
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container.")
@click.option("--ip", help="IPv4 address (e.g., 172.30.100.104).")
@needs_root
def connect(network_name, container, aliases, ip):
    """Connect a container to a network (a running one gets the new interface at once)."""
    from pocketbox.engine.networking import connect_network

    connect_network(container, network_name, list(aliases), ip)


@network.command(context_settings=CONTEXT)
@click.argument("network_name")
@click.argument("container")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network.")
@needs_root
def disconnect(network_name, container, force):
    """Disconnect a container from a network it joined with `network connect`."""
    from pocketbox.engine.networking import disconnect_network

    disconnect_network(container, network_name, force)


@network.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@needs_root
def rm(names):
    """Remove one or more networks (refused while a running container is on one)."""
    from pocketbox.network.networks import Networks

    networks = Networks()
    for_each(names, networks.remove, show=str)


@network.command(context_settings=CONTEXT)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@needs_root
def prune(force):
    """Remove the user-defined networks no container refers to."""
    from pocketbox.engine.containers import Containers
    from pocketbox.network.networks import Networks

    if not prune_confirmed(force, "This will remove all custom networks not used by at least one container."):
        return
    from pocketbox.engine.filters import networks_of

    in_use = {name for r in Containers().all() for name in networks_of(r)}
    removed = Networks().prune(in_use)
    if removed:
        click.echo("Deleted Networks:\n" + "\n".join(removed))
