"""The `pocketbox` command group: a thin click layer. It parses flags, calls the engine, prints.

cli/entry.py is the program's entry point: it turns errors into one line and an exit code, and
lets `run` and `exec` skip click when it can (cli/quickparse.py)."""
import functools
import importlib
import sys

import click

from pocketbox import __version__
from pocketbox.errors import PocketboxError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def fail(message: str, code: int = 125) -> None:
    raise PocketboxError(message, code)


def for_each(refs, action, show=None) -> None:
    """Docker's multi-object verbs: act on each and print its name (or show(result)), one error
    line per failure, exit 1 if any failed."""
    failed = False
    for ref in refs:
        try:
            result = action(ref)
            click.echo(ref if show is None else show(result))
        except PocketboxError as e:
            click.echo(f"pocketbox: {e}", err=True)
            failed = True
    if failed:
        sys.exit(1)


def prune_confirmed(force: bool, warning: str) -> bool:
    """Docker's prune prompt: the WARNING line, then "Are you sure...?" (no unless -f)."""
    if force:
        return True
    click.echo(f"WARNING! {warning}")
    return click.confirm("Are you sure you want to continue?", default=False)


def needs_root(f):
    """Commands that read or write the state root need root; say so before doing anything."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        from pocketbox.state import require_root

        require_root()
        return f(*args, **kwargs)
    return wrapper


class LazyGroup(click.Group):
    """A group whose commands live in other modules, imported only when one of them is used:
    `pocketbox exec` does not pay for the image or volume commands (start-up time counts)."""

    def __init__(self, *args, lazy: dict[str, list[str]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy = lazy or {}

    @staticmethod
    def _load(modules) -> None:
        for m in modules:
            importlib.import_module(f"pocketbox.cli.{m}")

    def get_command(self, ctx, name):
        if name not in self.commands and name in self.lazy:
            self._load(self.lazy[name])
        return super().get_command(ctx, name)

    def list_commands(self, ctx):
        self._load(sorted({m for modules in self.lazy.values() for m in modules}))
        return super().list_commands(ctx)


IMAGES, CONTAINERS, SHARE, SYSTEM, VOLUMES, NETWORKS = ("image_commands",), ("container_commands",), \
    ("share_commands",), ("system_commands",), ("volume_commands",), ("network_commands",)
TOP_LEVEL = {
    **{n: IMAGES for n in ("pull", "images", "rmi", "load", "save", "login", "logout", "search")},
    **{n: CONTAINERS for n in ("run", "create", "ps", "rm", "inspect", "start", "stop", "restart", "kill", "wait",
                               "pause", "unpause", "attach", "logs", "exec", "port", "rename", "stats", "top",
                               "update", "cp")},
    **{n: SHARE for n in ("tag", "commit", "push", "export", "import", "history", "diff", "build")},
    **{n: SYSTEM for n in ("info", "version", "system", "events", "serve", "compose", "ui")},
    "volume": VOLUMES, "network": NETWORKS, "container": CONTAINERS + SHARE, "image": IMAGES + SHARE,
}


@click.group(cls=LazyGroup, lazy=TOP_LEVEL, context_settings=CONTEXT)
@click.version_option(__version__, "-v", "--version", prog_name="pocketbox",
                      message="pocketbox version %(version)s")
def cli():
    """pocketbox: a small container runtime that does what Docker does, in readable Python.

    State lives in /var/lib/pocketbox ($POCKETBOX_ROOT moves it).

    Teaching mode: `pocketbox --explain COMMAND ...` (or --explain=json, or POCKETBOX_EXPLAIN=1)
    prints on stderr each real act pocketbox performs, as it happens."""


@cli.group(cls=LazyGroup, context_settings=CONTEXT)
def image():
    """Manage images."""


image.lazy = {n: IMAGES + SHARE for n in ("ls", "pull", "inspect", "rm", "prune", "load", "save", "tag", "push", "build",
                                          "import", "history")}
