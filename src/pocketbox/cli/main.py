"""The `pocketbox` command: a thin click layer. It parses flags, calls the engine, prints.

Errors: the engine raises PocketboxError (one line, an exit code); usage errors exit 125 as
Docker's CLI does; no traceback reaches the user."""
import functools
import importlib
import os
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
    **{n: IMAGES for n in ("pull", "images", "rmi", "load", "save", "login", "logout")},
    **{n: CONTAINERS for n in ("run", "ps", "rm", "inspect", "start", "stop", "restart", "kill", "wait", "pause",
                               "unpause", "attach", "logs", "exec", "port")},
    **{n: SHARE for n in ("tag", "commit", "push", "export", "import", "history", "diff")},
    **{n: SYSTEM for n in ("info", "version", "system")},
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


image.lazy = {n: IMAGES + SHARE for n in ("ls", "pull", "inspect", "rm", "prune", "load", "save", "tag", "push",
                                          "import", "history")}


def _take_explain(argv: list[str]) -> list[str]:
    """The global --explain[=json] stands before the command; take it out before click parses."""
    from pocketbox import explain

    rest = list(argv)
    while rest and rest[0].startswith("--explain"):
        option = rest.pop(0)
        if option not in ("--explain", "--explain=text", "--explain=json"):
            raise click.UsageError(f"unknown value in {option!r}: use --explain or --explain=json")
        explain.enable("json" if option.endswith("=json") else "text")
    explain.from_environment() if not explain.enabled() else None
    return rest


def main(argv=None) -> None:
    try:
        argv = _take_explain(sys.argv[1:] if argv is None else argv)
        rv = cli.main(args=argv, prog_name="pocketbox", standalone_mode=False)
    except SystemExit as e:  # commands end with sys.exit(code)
        _exit(e.code if isinstance(e.code, int) else (0 if e.code is None else 1))
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(125)
    except PocketboxError as e:
        click.echo(f"pocketbox: {e}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("pocketbox: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(141)
    except OSError as e:
        click.echo(f"pocketbox: {e}", err=True)
        sys.exit(125)
    except Exception as e:  # a bug: still one line, the traceback only on request
        if os.environ.get("POCKETBOX_DEBUG"):
            raise
        click.echo(f"pocketbox: internal error: {type(e).__name__}: {e} (POCKETBOX_DEBUG=1 shows the traceback)",
                   err=True)
        sys.exit(125)
    _exit(rv if isinstance(rv, int) else 0)


def _exit(code: int) -> None:
    """Leave without the interpreter's teardown of every module (~10 ms of a `run --rm`):
    everything pocketbox writes is closed by then; only stdio needs flushing."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    os._exit(code)
