"""tag, commit, push, export, import, history, diff: making and sharing images."""
import os
import sys

import click

from pocketbox.text.format import ago, human_size, table
from pocketbox.cli.main import CONTEXT, cli, fail, image, needs_root


@click.command(context_settings=CONTEXT)
@click.argument("source")
@click.argument("target")
@needs_root
def tag(source, target):
    """Create a tag TARGET that refers to SOURCE (moving it off any other image)."""
    from pocketbox.engine.imagebuild import tag as do_tag
    from pocketbox.image.store import Store

    do_tag(Store.open(), source, target)


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.argument("repository", required=False)
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("-a", "--author", default="", help='Author (e.g. "Ada <ada@example.org>").')
@click.option("-c", "--change", multiple=True, help="Apply an instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE.")
@click.option("-p/--no-pause", "--pause/--no-pause", default=True, help="Pause the container while committing.")
@needs_root
def commit(container, repository, message, author, change, pause):
    """Create a new image from a container's changes."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.imagebuild import commit as do_commit

    click.echo(do_commit(Containers(), container, repository, message, author, list(change), pause))


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@needs_root
def push(name, quiet):
    """Upload an image to a registry."""
    from pocketbox import reference
    from pocketbox.cli.progress import PullProgress
    from pocketbox.engine.images import find_image, register_image
    from pocketbox.image.push import Pusher
    from pocketbox.image.store import Store

    store = Store.open()
    ref = reference.parse(name)
    record = find_image(store, ref.name)
    if not quiet:
        click.echo(f"The push refers to repository [{ref.repository}]")
    digest, size = Pusher(store, ref, None if quiet else PullProgress()).push(record)
    register_image(store, record, ref, digest)
    click.echo(f"{ref.tag}: digest: {digest} size: {size}" if not quiet else ref.name)


@click.command(context_settings=CONTEXT)
@click.argument("container")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file, instead of STDOUT.")
@needs_root
def export(container, output):
    """Export a container's filesystem as a tar archive."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.imagebuild import export as do_export

    engine = Containers()
    engine.find(container)
    if not output:
        if sys.stdout.isatty():
            fail("cowardly refusing to save to a terminal. Use the -o flag or redirect")
        sys.stdout.flush()
        do_export(engine, container, sys.stdout.fileno())
        return
    tmp = f"{output}.{os.getpid()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            do_export(engine, container, fd)
        finally:
            os.close(fd)
        os.rename(tmp, output)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@click.command("import", context_settings=CONTEXT)
@click.argument("file")
@click.argument("repository", required=False)
@click.option("-m", "--message", default="", help="Commit message for the imported image.")
@click.option("-c", "--change", multiple=True, help="Apply an instruction: CMD, ENTRYPOINT, ENV, WORKDIR, ...")
@needs_root
def import_(file, repository, message, change):
    """Import the contents of a tarball (FILE, or - for stdin) as a one-layer image."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.imagebuild import import_tarball

    if file == "-":
        click.echo(import_tarball(Containers(), sys.stdin.buffer, repository, message, list(change), "-"))
        return
    if not os.path.isfile(file):
        fail(f"open {file}: no such file")
    with open(file, "rb") as f:
        click.echo(import_tarball(Containers(), f, repository, message, list(change), os.path.basename(file)))


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--format", "fmt", help="Format with a Go template ('table {{.ID}}\\t{{.CreatedBy}}', or json).")
@needs_root
def history(name, no_trunc, quiet, fmt):
    """Show the history of an image (its layers, their sizes, what made them)."""
    from pocketbox.engine.imagebuild import history as collect
    from pocketbox.image.store import Store
    from pocketbox.text.format import created_at, listing

    rows = collect(Store.open(), name)
    ident = (lambda i: i) if no_trunc else (lambda i: i if i == "<missing>" else i[7:19])
    if quiet:
        click.echo("\n".join(ident(r["Id"]) for r in rows))
        return
    entries = [{"ID": ident(r["Id"]), "CreatedSince": ago(r["Created"]) if r["Created"] else "N/A",
                "CreatedAt": created_at(r["Created"]) if r["Created"] else "N/A",
                "CreatedBy": r["CreatedBy"] if no_trunc or len(r["CreatedBy"]) <= 45 else r["CreatedBy"][:44] + "…",
                "Size": human_size(r["Size"]), "Comment": r["Comment"]} for r in rows]
    out = listing(entries, fmt, "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
                  {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "CreatedBy": "CREATED BY",
                   "Size": "SIZE", "Comment": "COMMENT"})
    if out is not None:
        click.echo(out)


@click.command(context_settings=CONTEXT)
@click.argument("container")
@needs_root
def diff(container):
    """Inspect changes to files on a container's filesystem (A added, C changed, D deleted)."""
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.spec import mount_points
    from pocketbox.image.changes import diff as changes

    engine = Containers()
    record = engine.find(container)
    lowers = record["GraphDriver"]["Data"]["LowerDir"].split(":")
    for kind, path in changes(record["GraphDriver"]["Data"]["UpperDir"], lowers, mount_points(record)):
        click.echo(f"{kind} {path}")


for command in (tag, commit, push, export, import_, history, diff):
    cli.add_command(command)
for command in (tag, push, import_, history):
    image.add_command(command)


def _add_to_container_group() -> None:
    from pocketbox.cli.container_commands import container

    for command in (commit, export, diff):
        container.add_command(command)


_add_to_container_group()


@click.command(context_settings=CONTEXT)
@click.argument("context_path", metavar="PATH | -")
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag (name:tag).")
@click.option("-f", "--file", "dockerfile", help="Name of the Dockerfile (default: PATH/Dockerfile).")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables (KEY=VALUE).")
@click.option("--target", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image.")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image (key=value).")
@click.option("--network", default="bridge", help="Networking mode for the RUN instructions (bridge, none, host).")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success.")
@click.option("--platform", help="Set platform (pocketbox builds for the host's only).")
@click.option("--rm/--no-rm", "remove", default=True, help="Remove intermediate containers (always).")
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers (always).")
@needs_root
def build(context_path, tags, dockerfile, build_args, target, no_cache, pull, labels, network, quiet, platform,
          remove, force_rm):
    """Build an image from a Dockerfile."""
    from pocketbox import reference
    from pocketbox.build.builder import BuildOptions, build_image
    from pocketbox.engine.containers import Containers

    if network not in ("bridge", "none", "host", "default"):
        fail(f"network mode {network!r} not supported by the builder (bridge, none, host)")
    for t in tags:
        try:
            reference.parse(t)
        except Exception as e:  # noqa: BLE001 (its own message)
            fail(f'invalid argument "{t}" for "-t, --tag" flag: {e}')
    args = {}
    for item in build_args:
        key, sep, value = item.partition("=")
        if not sep:  # --build-arg NAME: the value of our own environment, if set
            if key not in os.environ:
                continue
            value = os.environ[key]
        args[key] = value
    options = BuildOptions(tags=tags, dockerfile=dockerfile, build_args=args, target=target, no_cache=no_cache,
                           pull=pull, labels=dict(lb.partition("=")[::2] for lb in labels),
                           network="bridge" if network == "default" else network, quiet=quiet, platform=platform)
    null = os.open(os.devnull, os.O_WRONLY) if quiet else None
    sys.stdout.flush()
    image_id = build_image(Containers(), context_path, options, 1 if null is None else null,
                           sys.stdin.buffer if context_path == "-" else None)
    if quiet:
        click.echo(image_id)


cli.add_command(build)
image.add_command(build)
