"""The program's entry point (`pocketbox`, `python -m pocketbox`).

It reads the global --explain, lets `run` and `exec` go without click when their command line
is plain (cli/quickparse.py: click's import is a third of a `run --rm`), and hands everything
else to the click group in cli/main.py. Errors: the engine raises PocketboxError (one line, an
exit code): 125 for `run`, 1 for other commands, as Docker's CLI; usage errors exit 125, a
missing argument or an unknown command 1; no traceback reaches the user."""
import os
import sys

from pocketbox.errors import PocketboxError


def _take_explain(argv: list[str]) -> list[str]:
    """The global --explain[=json] stands before the command; take it out before parsing."""
    from pocketbox import explain

    rest = list(argv)
    while rest and (rest[0].startswith("--explain") or (len(rest) > 1 and rest[1].startswith("--explain"))):
        option = rest.pop(0 if rest[0].startswith("--explain") else 1)  # before the command, or right after it
        if option not in ("--explain", "--explain=text", "--explain=full", "--explain=json"):
            raise PocketboxError(f"unknown value in {option!r}: use --explain, --explain=full or --explain=json", 125)
        explain.enable(option.partition("=")[2] or "text")
    explain.from_environment() if not explain.enabled() else None
    return rest


def _without_click(args: list[str]) -> int | None:
    """`run ...` or `exec ...` read by quickparse; None when click must read the line."""
    if not args or args[0] not in ("run", "exec"):
        return None
    from pocketbox.cli import container_run
    from pocketbox.cli.quickparse import parse

    spec, function = (container_run.RUN, container_run.run) if args[0] == "run" else \
        (container_run.EXEC, container_run.exec_)
    params = parse(args[1:], spec)
    if params is None:
        return None
    from pocketbox.state import require_root

    require_root()
    return function(**params)


def _with_click(args: list[str]) -> int:
    import click

    from pocketbox.cli.main import cli

    if not args:  # `pocketbox` alone: the help, as `docker` does
        args = ["--help"]
    elif args[0] == "help":  # `pocketbox help [COMMAND...]`
        args = args[1:] + ["--help"]
    try:
        rv = cli.main(args=args, prog_name="pocketbox", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        print(file=sys.stderr)
        return 130
    except click.UsageError as e:
        return _usage_error(e)
    except click.ClickException as e:
        e.show()
        return 125
    return rv if isinstance(rv, int) else 0


def _usage_error(e) -> int:
    """Docker's CLI: one line and where to read more. A missing argument or an unknown command
    exits 1; a bad flag or flag value 125."""
    import click

    path = e.ctx.command_path if e.ctx is not None else "pocketbox"
    if isinstance(e, click.MissingParameter) and e.param is not None and e.param.param_type_name == "argument":
        print(f"pocketbox: '{path}' requires at least 1 argument.\nSee '{path} --help'.", file=sys.stderr)
        return 1
    message = e.format_message()
    if message.startswith("No such command"):
        name = message.split("'")[1] if "'" in message else message
        print(f"pocketbox: '{name}' is not a pocketbox command.\nSee '{path} --help'.", file=sys.stderr)
        return 1
    print(f"pocketbox: {message}\nSee '{path} --help'.", file=sys.stderr)
    return 125


def _verb(args: list[str]) -> str:
    """run, exec, ... (also `container run`)."""
    words = [a for a in args[:2] if not a.startswith("-")]
    return words[1] if len(words) > 1 and words[0] == "container" else (words[0] if words else "")


def main(argv=None) -> None:
    args: list[str] = []
    try:
        args = _take_explain(sys.argv[1:] if argv is None else argv)
        code = _without_click(args)
        if code is None:
            code = _with_click(args)
    except SystemExit as e:  # commands end with sys.exit(code)
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except PocketboxError as e:
        print(f"pocketbox: {e}", file=sys.stderr)
        code = e.exit_code
        if code == 125 and _verb(args) not in ("run", "create"):
            code = 1  # Docker's CLI: what the engine refuses exits 1, except in `run` (125)
    except KeyboardInterrupt:
        print("pocketbox: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        code = 141
    except OSError as e:
        print(f"pocketbox: {e}", file=sys.stderr)
        code = 125 if _verb(args) in ("run", "create") else 1
    except Exception as e:  # a bug: still one line, the traceback only on request
        if os.environ.get("POCKETBOX_DEBUG"):
            raise
        print(f"pocketbox: internal error: {type(e).__name__}: {e} (POCKETBOX_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        code = 125
    _exit(code)


def _exit(code: int) -> None:
    """Leave without the interpreter's teardown of every module (~10 ms of a `run --rm`):
    everything pocketbox writes is closed by then; only stdio needs flushing."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 141
    os._exit(code)
