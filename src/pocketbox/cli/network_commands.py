"""network create/ls/inspect/rm/prune."""
import json
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
@needs_root
def ls(quiet, no_trunc):
    """List networks."""
    from pocketbox.cli.format import table
    from pocketbox.network.networks import Networks

    nets = Networks().all()
    ident = (lambda n: n["Id"]) if no_trunc else (lambda n: n["Id"][:12])
    if quiet:
        click.echo("\n".join(ident(n) for n in nets))
        return
    click.echo(table(["NETWORK ID", "NAME", "DRIVER", "SCOPE"], [[ident(n), n["Name"], n["Driver"], n["Scope"]]
                                                               for n in nets]))


@network.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@needs_root
def inspect(names):
    """Show the JSON record of one or more networks, with their containers."""
    from pocketbox.network.networks import Networks

    networks, out, failed = Networks(), [], False
    endpoints = networks.endpoints()
    for n in names:
        try:
            net = dict(networks.find(n))
        except PocketboxError as e:
            click.echo(f"pocketbox: {e}", err=True)
            failed = True
            continue
        net["Containers"] = {cid: {"Name": e["Name"], "MacAddress": e["MacAddress"],
                                   "IPv4Address": f"{e['IPAddress']}/{e['IPPrefixLen']}"}
                             for cid, e in endpoints.items() if e["NetworkID"] == net["Id"]}
        out.append(net)
    click.echo(json.dumps(out, indent=4))
    if failed:
        sys.exit(1)


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
    in_use = {r["HostConfig"].get("NetworkMode", "") for r in Containers().all()}
    removed = Networks().prune(in_use)
    if removed:
        click.echo("Deleted Networks:\n" + "\n".join(removed))
