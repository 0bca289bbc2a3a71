"""Command-line options as plain data, and a reader for them that does not need click.

Why: `run` and `exec` are judged in milliseconds, and importing click costs about 30 ms of an
80 ms `run --rm` (click imports inspect, typing, enum, uuid, ...). So the options of these two
commands are declared once, as data (cli/container_run.py). cli/container_commands.py turns
them into ordinary click options: help, errors and every corner of click's grammar are click's.
parse() below reads the common, well-formed command lines without click. When it meets anything
it is not sure of (--help, an unknown or malformed option, a bad value, a missing argument) it
returns None and the command line goes to click, so error messages and exit codes stay click's.
tests/unit/test_quickparse.py checks that both read every command line the same way."""


class Option:
    """One option: its spellings ("-e", "--env"), the parameter it fills, and its kind:
    "value" (last one wins), "multi" (a tuple of all), or "flag" (True when present)."""

    __slots__ = ("decls", "dest", "kind", "help", "default", "choices", "integer")

    def __init__(self, *decls: str, dest: str | None = None, kind: str = "value", help: str = "",
                 default: str | None = None, choices: tuple[str, ...] | None = None, integer: bool = False):
        self.decls = decls
        longest = max(decls, key=len)
        self.dest = dest or longest.lstrip("-").replace("-", "_")
        self.kind = kind
        self.help = help
        self.default = default
        self.choices = choices
        self.integer = integer

    def initial(self):
        return () if self.kind == "multi" else (False if self.kind == "flag" else self.default)


class CommandSpec:
    """A command's options, then one required argument (`first`) and the rest of the line
    (`rest`, required or not). Options stop at the first argument, as Docker's do: what follows
    the image is the container's command, even when it starts with '-'."""

    def __init__(self, first: str, rest: str, rest_required: bool, options: list[Option]):
        self.first = first
        self.rest = rest
        self.rest_required = rest_required
        self.options = options
        self.by_spelling = {d: o for o in options for d in o.decls}


def parse(args: list[str], spec: CommandSpec) -> dict | None:
    """The parameters click would pass for `args`, or None: then let click read them."""
    values = {o.dest: o.initial() for o in spec.options}
    i, positional = 0, None
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional = args[i:]
            break
        if arg.startswith("-") and len(arg) > 1:
            for option, inline in _options_in(arg, spec):
                if option is None:
                    return None
                if option.kind == "flag":
                    if inline is not None:  # --rm=yes
                        return None
                    values[option.dest] = True
                    continue
                if inline is None:  # the value is the next argument
                    if i == len(args):
                        return None
                    inline, i = args[i], i + 1
                if not _store(values, option, inline):
                    return None
        else:
            positional = args[i - 1:]
            break
    if not positional or (spec.rest_required and len(positional) < 2):
        return None
    values[spec.first] = positional[0]
    values[spec.rest] = tuple(positional[1:])
    return values


def _options_in(arg: str, spec: CommandSpec) -> list[tuple[Option | None, str | None]]:
    """The options one argument names, each with the value written inside the argument (or None):
    `--name=x`, `--rm`; a cluster of short ones, `-it`, `-p80`, `-dp` (then the value follows)."""
    if arg.startswith("--"):
        name, eq, value = arg.partition("=")
        return [(spec.by_spelling.get(name), value if eq else None)]
    found = []
    for j in range(1, len(arg)):
        option = spec.by_spelling.get("-" + arg[j])
        if option is not None and option.kind != "flag":  # it takes the rest of the cluster
            found.append((option, arg[j + 1:] or None))
            break
        found.append((option, None))
    return found


def _store(values: dict, option: Option, value: str) -> bool:
    if option.choices is not None and value not in option.choices:
        return False
    if option.integer:
        try:
            value = int(value)
        except ValueError:
            return False
    if option.kind == "multi":
        values[option.dest] += (value,)
    else:
        values[option.dest] = value
    return True
