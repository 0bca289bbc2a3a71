"""The Dockerfile parser: text -> instructions, as Docker's parser reads it.

Parser directives (`# escape=`, `# syntax=`) come first; comment lines are dropped, also inside
a continued line; a line ending in the escape character continues on the next. Each instruction
keeps its keyword, its leading `--flags`, its arguments in the shape its keyword needs (a JSON
list or a string; name/value pairs), and its original text for the output and the cache."""
import json
import re
from dataclasses import dataclass, field

from pocketbox.build.words import split_words
from pocketbox.errors import PocketboxError

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
                "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-zA-Z][a-zA-Z0-9-]*)(?:=(.*))?$")
_FLAGS_OF = {"FROM": {"platform"}, "COPY": {"from", "chown", "chmod"}, "ADD": {"chown", "chmod"},
             "HEALTHCHECK": {"interval", "timeout", "start-period", "retries"}, "RUN": set()}


class DockerfileError(PocketboxError):
    def __init__(self, message: str, line: int | None = None):
        super().__init__(f"Dockerfile parse error line {line}: {message}" if line else message, 1)


@dataclass
class Instruction:
    keyword: str                      # FROM, RUN, ... (upper case)
    original: str                     # the instruction as written (continuations joined)
    line: int
    rest: str = ""                    # the arguments' text, flags removed
    flags: dict = field(default_factory=dict)
    json: list | None = None          # the exec (JSON) form of RUN, CMD, ENTRYPOINT, COPY, ADD, VOLUME, SHELL
    pairs: list = field(default_factory=list)  # ENV / LABEL / ARG: (name, value or None), as written

    def text(self) -> str:
        """What `Step N/M :` shows."""
        return self.original


@dataclass
class Dockerfile:
    instructions: list
    escape: str = "\\"
    directives: dict = field(default_factory=dict)


def parse(text: str) -> Dockerfile:
    lines = text.lstrip("\ufeff").split("\n")
    escape, directives, i = "\\", {}, 0
    while i < len(lines):  # parser directives: only before anything else
        m = _DIRECTIVE.match(lines[i].strip())
        if not m:
            break
        key, value = m.group(1).lower(), m.group(2)
        if key in directives:
            raise DockerfileError(f"only one {key} parser directive can be used", i + 1)
        directives[key] = value
        if key == "escape":
            if value not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token '{value}' does not match ` or \\", i + 1)
            escape = value
        i += 1
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    out, n = [], len(lines)
    while i < n:
        line = lines[i].rstrip("\r").lstrip()
        i += 1
        start = i
        if not line or line.startswith("#"):
            continue
        while continuation.search(line):
            line = continuation.sub("", line)
            while i < n and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1  # comments and empty lines inside a continued line are skipped
            if i == n:
                break
            line += lines[i].rstrip("\r")
            i += 1
        if line.strip():
            out.append(parse_instruction(line.strip(), start, escape))
    return Dockerfile(out, escape, directives)


def parse_instruction(line: str, number: int, escape: str = "\\") -> Instruction:
    m = re.match(r"(\S+)\s*(.*)$", line, re.S)
    word, rest = m.group(1), m.group(2)
    keyword = word.upper()
    rest = rest.strip()
    if keyword not in INSTRUCTIONS:
        raise DockerfileError(f"unknown instruction: {word.upper()}", number)
    inst = Instruction(keyword, line, number, rest)
    if keyword in _FLAGS_OF:
        while rest.startswith("--"):
            token, _, after = rest.partition(" ")
            m = _FLAG.match(token)
            if not m:
                break
            name, value = m.group(1), m.group(2)
            if name not in _FLAGS_OF[keyword]:
                raise DockerfileError(f"Unknown flag: {name}", number)
            if value is None:
                raise DockerfileError(f"Missing a value on flag: {name}", number)
            inst.flags[name] = value
            rest = after.strip()
        inst.rest = rest
    if keyword == "ONBUILD":
        if not rest:
            raise DockerfileError("ONBUILD requires at least one argument", number)
        inner = parse_instruction(rest, number, escape)
        if inner.keyword in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(f"{inner.keyword} isn't allowed as an ONBUILD trigger", number)
        return inst
    if keyword in ("RUN", "CMD", "ENTRYPOINT", "COPY", "ADD", "VOLUME", "SHELL"):
        inst.json = _json_list(rest)
        if keyword == "SHELL" and inst.json is None:
            raise DockerfileError("SHELL requires the arguments to be in JSON form", number)
    if keyword in ("ENV", "LABEL"):
        inst.pairs = _name_values(keyword, rest, escape, number)
    elif keyword == "ARG":
        words = split_words(rest, escape)
        if len(words) != 1:
            raise DockerfileError("ARG requires exactly one argument", number)
        name, sep, value = words[0].partition("=")
        inst.pairs = [(name, value if sep else None)]
    elif keyword == "HEALTHCHECK":
        kind, _, cmd = rest.partition(" ")
        if kind.upper() not in ("NONE", "CMD"):
            raise DockerfileError(f"Unknown type \"{kind}\" in HEALTHCHECK (try CMD)", number)
        if kind.upper() == "NONE" and cmd.strip():
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", number)
        inst.json = _json_list(cmd.strip())
    if not rest and keyword not in ("CMD", "ENTRYPOINT"):
        raise DockerfileError(f"{keyword} requires at least one argument", number)
    return inst


def _json_list(rest: str) -> list | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    return value


def _name_values(keyword: str, rest: str, escape: str, number: int) -> list[tuple[str, str]]:
    """ENV/LABEL: `name=value ...`, or the old form `name value with spaces`."""
    words = split_words(rest, escape)
    if not words:
        raise DockerfileError(f"{keyword} requires at least one argument", number)
    if "=" not in words[0]:
        parts = re.split(r"[ \t]+", rest, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{keyword} must have two arguments", number)
        return [(parts[0], parts[1])]
    pairs = []
    for word in words:
        if "=" not in word:
            raise DockerfileError(f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value",
                                  number)
        name, _, value = word.partition("=")
        pairs.append((name, value))
    return pairs
