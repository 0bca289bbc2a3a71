"""The program's entry point (`pocketbox`, `python -m pocketbox`).

It reads the global --explain, lets `run` and `exec` go without click when their command line
is plain (cli/quickparse.py: click's import is a third of a `run --rm`), and hands everything
else to the click group in cli/main.py. Errors: the engine raises PocketboxError (one line, an
exit code); usage errors exit 125 as Docker's CLI does; no traceback reaches the user."""
import os
import sys

from pocketbox.errors import PocketboxError


def _take_explain(argv: list[str]) -> list[str]:
    """The global --explain[=json] stands before the command; take it out before parsing."""
    from pocketbox import explain

    rest = list(argv)
    while rest and rest[0].startswith("--explain"):
        option = rest.pop(0)
        if option not in ("--explain", "--explain=text", "--explain=json"):
            raise PocketboxError(f"unknown value in {option!r}: use --explain or --explain=json", 125)
        explain.enable("json" if option.endswith("=json") else "text")
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

    try:
        rv = cli.main(args=args, prog_name="pocketbox", standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.exceptions.Abort:
        print(file=sys.stderr)
        return 130
    except click.ClickException as e:
        e.show()
        return 125
    return rv if isinstance(rv, int) else 0


def main(argv=None) -> None:
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
    except KeyboardInterrupt:
        print("pocketbox: interrupted", file=sys.stderr)
        code = 130
    except BrokenPipeError:
        code = 141
    except OSError as e:
        print(f"pocketbox: {e}", file=sys.stderr)
        code = 125
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
