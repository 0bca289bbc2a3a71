"""Image commands: pull, images, inspect, rmi, prune, load, save, login, logout."""
import os
import sys

import click

from pocketbox.text.format import ago, created_at, human_size, inspect_output, listing
from pocketbox.cli.main import CONTEXT, cli, fail, image, needs_root, prune_confirmed
from pocketbox.errors import PocketboxError


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--platform", help="Pull this platform's image from a manifest list (os/arch[/variant]).")
@click.option("-q", "--quiet", is_flag=True, help="Print only the image's name.")
@needs_root
def pull(name, platform, quiet):
    """Download an image from a registry."""
    from pocketbox import reference
    from pocketbox.cli.progress import PullProgress
    from pocketbox.image.pull import pull as do_pull
    from pocketbox.registry.manifest import parse_platform

    ref = reference.parse(name)
    want = parse_platform(platform) if platform else None
    if not quiet:
        if ":" not in name.rsplit("/", 1)[-1] and "@" not in name:
            click.echo(f"Using default tag: {ref.tag}")
        click.echo(f"{ref.digest or ref.tag}: Pulling from {ref.path}")
    result = do_pull(ref, want, progress=None if quiet else PullProgress())
    if not quiet:
        click.echo(f"Digest: {result.manifest_digest}")
        status = "Image is up to date for" if result.up_to_date else "Downloaded newer image for"
        click.echo(f"Status: {status} {ref.familiar()}")
    click.echo(ref.name)


@click.command(context_settings=CONTEXT)
@click.argument("repository", required=False)
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images).")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output: reference, dangling, label, "
                                                                   "before, since.")
@click.option("--format", "fmt", help="Format with a Go template ('table {{.Repository}}\\t{{.ID}}', or json).")
@needs_root
def images(repository, all_, quiet, digests, no_trunc, filters, fmt):
    """List images."""
    from pocketbox import reference
    from pocketbox.engine.images import filter_images, list_images
    from pocketbox.image.store import Store

    store = Store.open()
    rows = filter_images(store, list_images(store, all_), filters)
    if repository:
        want = reference.parse(repository, default_tag=False)
        rows = [r for r in rows if r["Repository"] == want.familiar_repository and (not want.tag or r["Tag"] == want.tag)]
    show_id = (lambda i: i) if no_trunc else (lambda i: i[7:19])
    if quiet:
        seen = []
        for r in rows:
            if show_id(r["Id"]) not in seen:
                seen.append(show_id(r["Id"]))
        click.echo("\n".join(seen)) if seen else None
        return
    default = ("table {{.Repository}}\t{{.Tag}}\t" + ("{{.Digest}}\t" if digests else "")
               + "{{.ID}}\t{{.CreatedSince}}\t{{.Size}}")
    out = listing([{"Containers": "N/A", "CreatedAt": created_at(r["Created"]), "CreatedSince": ago(r["Created"]),
                    "Digest": r["Digest"], "ID": show_id(r["Id"]), "Repository": r["Repository"],
                    "SharedSize": "N/A", "Size": human_size(r["Size"]), "Tag": r["Tag"], "UniqueSize": "N/A",
                    "VirtualSize": human_size(r["Size"])} for r in rows], fmt, default, IMAGE_HEADERS)
    if out is not None:
        click.echo(out)


IMAGE_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
                 "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE", "Containers": "CONTAINERS",
                 "VirtualSize": "VIRTUAL SIZE", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE"}


SEARCH_HEADERS = {"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS", "IsOfficial": "OFFICIAL",
                  "IsAutomated": "AUTOMATED"}


@click.command(context_settings=CONTEXT)
@click.argument("term")
@click.option("--limit", type=int, default=25, show_default=True, help="Max number of search results.")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output: stars=N, is-official=true|false.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", help="Format with a Go template ('{{.Name}}: {{.StarCount}}').")
def search(term, limit, filters, no_trunc, fmt):
    """Search Docker Hub (or REGISTRY/TERM: that registry) for images."""
    from pocketbox.engine.filters import parse
    from pocketbox.registry.search import search as query

    wanted = parse(filters, ("stars", "is-official", "is-automated"))
    results = query(term, limit)
    for key, values in wanted.items():
        if key == "stars":
            if not all(v.isdigit() for v in values):
                raise PocketboxError(f"Invalid filter 'stars={values[0]}'")
            results = [r for r in results if int(r.get("star_count") or 0) >= max(int(v) for v in values)]
        else:
            want = values[-1] in ("true", "1")
            field = "is_official" if key == "is-official" else "is_automated"
            results = [r for r in results if bool(r.get(field)) == want]
    rows = []
    for r in results:
        description = str(r.get("description") or "").replace("\n", " ")
        if not no_trunc and len(description) > 45:
            description = description[:44] + "…"
        rows.append({"Name": str(r.get("name", "")), "Description": description,
                     "StarCount": str(r.get("star_count") or 0), "IsOfficial": "[OK]" if r.get("is_official") else "",
                     "IsAutomated": "[OK]" if r.get("is_automated") else ""})
    out = listing(rows, fmt, "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}", SEARCH_HEADERS)
    if out is not None:
        click.echo(out)


@click.command("inspect", context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--format", "template", help="Format with a Go template: '{{.Config.Cmd}}'.")
@needs_root
def image_inspect(names, template):
    """Show the JSON record of one or more images (config, layers, where they are stored)."""
    from pocketbox.engine.images import find_image, inspect_image
    from pocketbox.image.store import Store

    store = Store.open()
    out, errors = [], []
    for n in names:
        try:
            out.append(inspect_image(store, find_image(store, n)))
        except PocketboxError as e:
            errors.append(str(e))
    text = inspect_output(out, template)
    if text is not None:
        click.echo(text)
    if errors:
        for e in errors:
            click.echo(f"pocketbox: {e}", err=True)
        sys.exit(1)


@click.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-f", "--force", is_flag=True, help="Remove even if containers use the image or it has several names.")
@needs_root
def rmi(names, force):
    """Remove one or more images."""
    from pocketbox.engine.images import remove_image
    from pocketbox.image.store import Store

    store = Store.open()
    failed = False
    for n in names:
        try:
            for action, what in remove_image(store, n, force):
                click.echo(f"{action}: {what}")
        except PocketboxError as e:
            click.echo(f"pocketbox: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@click.command("prune", context_settings=CONTEXT)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@needs_root
def image_prune(all_, force):
    """Remove unused images."""
    from pocketbox.engine.images import prune_images
    from pocketbox.image.store import Store

    what = "all images without at least one container associated to them" if all_ else "all dangling images"
    if not prune_confirmed(force, f"This will remove {what}."):
        return
    actions, freed = prune_images(Store.open(), all_)
    if actions:
        click.echo("Deleted Images:")
        for action, item in actions:
            click.echo(f"{action.lower()}: {item}")
        click.echo("")
    click.echo(f"Total reclaimed space: {human_size(freed)}")


@click.command(context_settings=CONTEXT)
@click.option("-i", "--input", "input_", type=click.Path(dir_okay=False), help="Read from a tar archive file, instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.option("--platform", help="Load this platform's image from a multi-platform archive.")
@needs_root
def load(input_, quiet, platform):
    """Load images from a `docker save` archive or an OCI layout tar."""
    import tempfile

    from pocketbox.image.archive import load as do_load
    from pocketbox.registry.manifest import parse_platform

    want = parse_platform(platform) if platform else None
    if input_:
        if not os.path.isfile(input_):
            fail(f"open {input_}: no such file")
        loaded = do_load(input_, want)
    else:
        if sys.stdin.isatty():
            fail("requested load from stdin, but stdin is empty: use -i FILE or redirect an archive")
        with tempfile.TemporaryFile() as tmp:  # tar needs to seek; stdin may be a pipe
            while chunk := sys.stdin.buffer.read(1 << 20):
                tmp.write(chunk)
            tmp.seek(0)
            loaded = do_load(tmp, want)
    if not quiet:
        for name, image_id in loaded:
            click.echo(f"Loaded image: {name}" if name else f"Loaded image ID: {image_id}")


@click.command(context_settings=CONTEXT)
@click.argument("names", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file, instead of STDOUT.")
@needs_root
def save(names, output):
    """Save one or more images to a tar archive (docker save and OCI layout in one)."""
    from pocketbox.engine.images import images_with_names
    from pocketbox.image.archive import save as do_save, save_to_path
    from pocketbox.image.store import Store

    records = images_with_names(Store.open(), names)
    if output:
        save_to_path(records, output)
    else:
        if sys.stdout.isatty():
            fail("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        do_save(records, sys.stdout.buffer)


@click.command(context_settings=CONTEXT)
@click.argument("server", required=False, default="docker.io")
@click.option("-u", "--username")
@click.option("-p", "--password")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@needs_root
def login(server, username, password, password_stdin):
    """Log in to a registry (credentials are stored root-only in the state root)."""
    from pocketbox.registry.auth import store_credentials
    from pocketbox.registry.client import check_login

    domain = _registry_domain(server)
    if password_stdin:
        if password:
            fail("--password and --password-stdin are mutually exclusive")
        password = sys.stdin.readline().rstrip("\n")
    if not username:
        username = click.prompt("Username")
    if not password:
        password = click.prompt("Password", hide_input=True)
    check_login(domain, username, password)
    store_credentials(domain, username, password)
    click.echo("Login Succeeded")


@click.command(context_settings=CONTEXT)
@click.argument("server", required=False, default="docker.io")
@needs_root
def logout(server):
    """Log out from a registry."""
    from pocketbox.registry.auth import remove_credentials

    domain = _registry_domain(server)
    if remove_credentials(domain):
        click.echo(f"Removing login credentials for {domain}")
    else:
        click.echo(f"Not logged in to {domain}")


def _registry_domain(server: str) -> str:
    from pocketbox.registry.client import login_domain

    return login_domain(server)


for command in (pull, images, rmi, load, save, login, logout, search):
    cli.add_command(command)
image.add_command(pull)
image.add_command(images, "ls")
image.add_command(image_inspect)
image.add_command(rmi, "rm")
image.add_command(image_prune)
image.add_command(load)
image.add_command(save)
