"""volume create/ls/inspect/rm/prune."""
import sys

import click

from pocketbox.text.format import human_size, inspect_output, listing
from pocketbox.cli.main import CONTEXT, cli, for_each, needs_root, prune_confirmed
from pocketbox.errors import PocketboxError


@cli.group(context_settings=CONTEXT)
def volume():
    """Manage volumes."""


def _labels(items) -> dict:
    from pocketbox.engine.options import parse_labels

    return parse_labels(list(items), [])


@volume.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@click.option("--label", multiple=True, help="Set metadata on the volume (key=value).")
@needs_root
def create(name, label):
    """Create a volume (a random name if none is given)."""
    from pocketbox.engine.volumes import Volumes

    click.echo(Volumes().create(name, _labels(label))["Name"])


@volume.command("ls", context_settings=CONTEXT)
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("-f", "--filter", "filters", multiple=True, help="name=..., label=key[=value], dangling=true|false.")
@click.option("--format", "fmt", help="Format with a Go template ('table {{.Name}}\\t{{.Mountpoint}}', or json).")
@needs_root
def ls(quiet, filters, fmt):
    """List volumes."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.volumes import Volumes

    volumes, engine = Volumes(), Containers()
    rows = volumes.all()
    for f in filters:
        key, sep, value = f.partition("=")
        if key == "name" and sep:
            rows = [v for v in rows if value in v["Name"]]
        elif key == "label" and sep:
            k, has_value, val = value.partition("=")
            rows = [v for v in rows if k in v["Labels"] and (not has_value or v["Labels"][k] == val)]
        elif key == "dangling" and value in ("true", "false", "1", "0"):
            want = value in ("true", "1")
            rows = [v for v in rows if (not volumes.users(v["Name"], engine)) == want]
        else:
            raise PocketboxError(f"invalid filter {f!r} (pocketbox knows name=, label=, dangling=)")
    if quiet:
        if rows:
            click.echo("\n".join(v["Name"] for v in rows))
        return
    out = listing([{"Driver": v["Driver"], "Labels": ",".join(f"{k}={x}" for k, x in sorted(v["Labels"].items())),
                    "Links": "N/A", "Mountpoint": v["Mountpoint"], "Name": v["Name"], "Scope": v.get("Scope", "local"),
                    "Size": "N/A", "Label": (lambda labels: lambda key: labels.get(key, ""))(v["Labels"])}
                   for v in rows], fmt, "table {{.Driver}}\t{{.Name}}", VOLUME_HEADERS)
    if out is not None:
        click.echo(out)


VOLUME_HEADERS = {"Driver": "DRIVER", "Labels": "LABELS", "Links": "LINKS", "Mountpoint": "MOUNTPOINT",
                  "Name": "VOLUME NAME", "Scope": "SCOPE", "Size": "SIZE", "Label": lambda *a: "LABEL"}


@volume.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "template", help="Format with a Go template: '{{.Mountpoint}}'.")
@needs_root
def inspect(names, template):
    """Show the JSON record of one or more volumes."""
    from pocketbox.engine.volumes import Volumes

    volumes, out, failed = Volumes(), [], False
    for n in names:
        try:
            out.append(volumes.get(n))
        except PocketboxError as e:
            click.echo(f"pocketbox: {e}", err=True)
            failed = True
    text = inspect_output(out, template)
    if text is not None:
        click.echo(text)
    if failed:
        sys.exit(1)


@volume.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Do not fail on volumes that do not exist.")
@needs_root
def rm(names, force):
    """Remove one or more volumes (refused while a container uses one)."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.volumes import Volumes

    volumes, engine = Volumes(), Containers()
    for_each(names, lambda n: volumes.remove(n, engine, force))


@volume.command(context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@needs_root
def prune(all_, force):
    """Remove unused volumes (anonymous ones; all with -a)."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.volumes import Volumes

    what = "all unused volumes" if all_ else "all anonymous volumes not used by at least one container"
    if not prune_confirmed(force, f"This will remove {what}."):
        return
    removed, freed = Volumes().prune(Containers(), all_)
    if removed:
        click.echo("Deleted Volumes:\n" + "\n".join(removed) + "\n")
    click.echo(f"Total reclaimed space: {human_size(freed)}")
