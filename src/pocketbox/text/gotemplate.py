"""The part of Go's text/template that Docker's --format and -f are written in.

Docker users write `{{.Names}}`, `{{json .Config}}`, `{{range .Mounts}}{{.Source}} {{end}}`,
`{{index .Labels "k"}}`, `{{if eq .State "running"}}up{{end}}`, `{{.Label "k"}}` and
`table {{.ID}}\\t{{.Status}}`. This module parses that language (actions, pipelines, variables,
if/else/range/with, parentheses, trim markers) and runs it on plain Python data: dicts are Go
maps or structs, lists are slices, callables are methods. Values print as Go's fmt prints them
([a b], map[k:v], <nil>, <no value>). Functions: Go's builtins and Docker's (json, join, split,
title, lower, upper, pad, truncate)."""
import json
import re


class TemplateError(ValueError):
    pass


NO_VALUE = type("NoValue", (), {"__repr__": lambda self: "<no value>"})()  # a missing map key


# --- printing values as Go does ---------------------------------------------------------------
def go_text(v) -> str:
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_text(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_text(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def truth(v) -> bool:
    """Go's: false, 0, nil and empty strings, slices and maps are false."""
    return not (v is None or v is NO_VALUE or v is False or v == 0 and not isinstance(v, str) or
                (isinstance(v, (str, list, tuple, dict)) and len(v) == 0))


# --- functions ---------------------------------------------------------------------------------
STRUCT_KEY = re.compile(r"[A-Z][A-Za-z0-9]*\Z")


def _go_order(v):
    """Go marshals a struct's fields in their order and a map's keys sorted (see _is_struct)."""
    if isinstance(v, dict):
        keys = list(v) if _is_struct(v) else sorted(v, key=str)
        return {k: _go_order(v[k]) for k in keys}
    if isinstance(v, (list, tuple)):
        return [_go_order(x) for x in v]
    return None if v is NO_VALUE else v


def _json(v) -> str:  # Docker's: json.Marshal without HTML escaping
    return json.dumps(_go_order(v), separators=(",", ":"), ensure_ascii=False)


def _index(v, *keys):
    for k in keys:
        if isinstance(v, dict):
            v = v.get(k, "")  # (Docker's maps are map[string]string: a missing key is "")
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(k, int) or not 0 <= k < len(v):
                raise TemplateError(f"error calling index: index out of range: {k}")
            v = v[k]
        elif v is None or v is NO_VALUE:
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(v).__name__}")
    return v


def _len(v) -> int:
    if isinstance(v, (str, list, tuple, dict)):
        return len(v)
    raise TemplateError(f"error calling len: len of type {type(v).__name__}")


def _printf(fmt: str, *args) -> str:
    """%v %s %d %q %t and widths, enough for the formats people pass to docker."""
    values = iter(args)

    def one(m):
        if m.group(0) == "%%":
            return "%"
        flags, verb = m.group(1), m.group(2)
        v = next(values, NO_VALUE)
        text = _json(v) if verb == "q" and isinstance(v, str) else go_text(v)
        return ("%" + flags + "s") % text
    return re.sub(r"%%|%([-+ 0#]*\d*(?:\.\d+)?)([vsdqtfx])", one, fmt)


def _compare(op):
    def f(a, *bs):
        if op == "eq" and bs:
            return any(a == b for b in bs)
        b = bs[0] if bs else NO_VALUE
        try:
            return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b, "eq": a == b}[op]
        except TypeError:
            raise TemplateError(f"error calling {op}: incompatible types for comparison") from None
    return f


def _truncate(s: str, n: int) -> str:
    return s[:n] if len(s) > n else s


FUNCTIONS = {
    "json": _json, "join": lambda items, sep: sep.join(go_text(x) for x in (items or [])),
    "split": lambda s, sep: s.split(sep) if sep else list(s), "title": lambda s: s.title(),
    "lower": lambda s: s.lower(), "upper": lambda s: s.upper(),
    "pad": lambda s, prefix, suffix: " " * prefix + go_text(s) + " " * suffix, "truncate": _truncate,
    "index": _index, "len": _len, "print": lambda *a: _sprint(a), "println": lambda *a: " ".join(map(go_text, a)) + "\n",
    "printf": _printf, "not": lambda v: not truth(v), "html": lambda v: go_text(v), "urlquery": lambda v: go_text(v),
    "slice": lambda v, *i: v[slice(*i)] if i else v,
    **{op: _compare(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}  # "and"/"or" are evaluated lazily below, as Go does


def _sprint(args) -> str:
    """Go's fmt.Sprint: a space between operands when neither is a string."""
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_text(a)
    return out


# --- lexing and parsing ------------------------------------------------------------------------
TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*")|(?P<raw>`[^`]*`)|(?P<num>-?\d+(?:\.\d+)?)|
    (?P<decl>:=)|(?P<assign>=)|(?P<punct>[()|,])|
    (?P<var>\$[A-Za-z0-9_]*)|(?P<field>(?:\.[A-Za-z0-9_]+)+|\.)|(?P<ident>[A-Za-z_][A-Za-z0-9_]*))""", re.X)


def _lex(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if not text[pos:].strip():
            break
        m = TOKEN.match(text, pos)
        if not m:
            raise TemplateError(f"unexpected {text[pos:].strip()[:20]!r} in command")
        kind = m.lastgroup
        value = m.group(kind)
        # a field chain right after ")" or a variable: (x).Field, $v.Field
        if kind == "field" and out and out[-1][0] in (")", "var") and text[m.start(kind) - 1] not in " \t":
            out.append(("chain", value))
        else:
            out.append((value if kind == "punct" else kind, value))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, template: str):
        self.parts = self._split(template)
        self.i = 0

    @staticmethod
    def _split(template: str) -> list[tuple[str, str]]:
        """Text and actions, with {{- and -}} trimming the white space next to them."""
        parts, pos = [], 0
        while True:
            start = template.find("{{", pos)
            if start < 0:
                parts.append(("text", template[pos:]))
                return parts
            text = template[pos:start]
            end = template.find("}}", start)
            if end < 0:
                raise TemplateError("unclosed action")
            body = template[start + 2:end]
            if body.startswith("- "):
                text, body = text.rstrip(), body[2:]
            pos = end + 2
            if body.endswith(" -"):
                body = body[:-2]
                rest = template[pos:]
                pos += len(rest) - len(rest.lstrip())
            parts.append(("text", text))
            if not body.strip().startswith("/*"):
                parts.append(("action", body.strip()))

    def parse(self, stop=()) -> tuple[list, str | None]:
        """Nodes until one of the `stop` keywords (end, else); returns (nodes, the keyword's action)."""
        nodes = []
        while self.i < len(self.parts):
            kind, body = self.parts[self.i]
            self.i += 1
            if kind == "text":
                if body:
                    nodes.append(("text", body))
                continue
            word = body.split(None, 1)[0] if body else ""
            if word in stop:
                return nodes, body
            if word in ("if", "range", "with"):
                nodes.append(self._control(word, body[len(word):]))
            elif word in ("end", "else"):
                raise TemplateError(f"unexpected {{{{{word}}}}}")
            elif word in ("define", "template", "block"):
                raise TemplateError(f"{{{{{word}}}}} is not supported")
            else:
                nodes.append(("action", self._pipeline(_lex(body))))
        if stop:
            raise TemplateError("unexpected EOF: missing {{end}}")
        return nodes, None

    def _control(self, word: str, pipe_text: str):
        """if/range/with up to its {{end}}; `else if X` is a nested if that shares that end."""
        pipe = self._pipeline(_lex(pipe_text))
        inner, closer = self.parse(("end", "else"))
        if closer is None:
            raise TemplateError(f"unexpected EOF: {{{{{word}}}}} has no {{{{end}}}}")
        other = []
        if closer.split(None, 1)[0] == "else":
            rest = closer[4:].strip()
            if rest:
                nested = rest.split(None, 1)[0]
                if nested not in ("if", "with"):
                    raise TemplateError(f"unexpected {{{{else {rest}}}}}")
                other = [self._control(nested, rest[len(nested):])]
            else:
                other, closer = self.parse(("end",))
                if closer is None:
                    raise TemplateError(f"unexpected EOF: {{{{{word}}}}} has no {{{{end}}}}")
        return word, pipe, inner, other

    def _pipeline(self, tokens: list):
        """[$x :=] command | command ...: (declared variables, commands)."""
        decl = []
        if tokens and tokens[0][0] == "var":
            j, names = 0, []
            while j < len(tokens) and tokens[j][0] == "var":
                names.append(tokens[j][1])
                j += 1
                if j < len(tokens) and tokens[j][0] == ",":
                    j += 1
            if j < len(tokens) and tokens[j][0] in ("decl", "assign"):
                decl, tokens = names, tokens[j + 1:]
        commands, current, depth = [], [], 0
        for tok in tokens:
            if tok[0] == "|" and depth == 0:
                commands.append(current)
                current = []
            else:
                current.append(tok)
                depth += tok[0] == "("
                depth -= tok[0] == ")"
        commands.append(current)
        if any(not c for c in commands):
            raise TemplateError("missing command in pipeline")
        return decl, [self._command(c) for c in commands]

    def _command(self, tokens: list) -> list:
        args, j = [], 0
        while j < len(tokens):
            kind, value = tokens[j]
            if kind == "(":
                depth, k = 1, j + 1
                while k < len(tokens) and depth:
                    depth += tokens[k][0] == "("
                    depth -= tokens[k][0] == ")"
                    k += 1
                if depth:
                    raise TemplateError("unclosed left paren")
                inner = self._pipeline(tokens[j + 1:k - 1])
                node = ("pipe", inner)
                j = k
                if j < len(tokens) and tokens[j][0] == "chain":
                    node = ("chain", node, tokens[j][1])
                    j += 1
                args.append(node)
                continue
            if kind == "var" and j + 1 < len(tokens) and tokens[j + 1][0] == "chain":
                args.append(("chain", ("var", value), tokens[j + 1][1]))
                j += 2
                continue
            if kind in (")", ",", "decl", "assign", "chain"):
                raise TemplateError(f"unexpected {value!r} in command")
            if kind == "str":
                args.append(("lit", json.loads(value)))
            elif kind == "raw":
                args.append(("lit", value[1:-1]))
            elif kind == "num":
                args.append(("lit", float(value) if "." in value else int(value)))
            elif kind == "ident" and value in ("true", "false", "nil"):
                args.append(("lit", {"true": True, "false": False, "nil": None}[value]))
            elif kind == "ident":
                if value not in FUNCTIONS and value not in ("and", "or"):
                    raise TemplateError(f'function "{value}" not defined')
                args.append(("func", value))
            else:
                args.append((kind, value))
            j += 1
        return args


# --- running ---------------------------------------------------------------------------------
def _is_struct(d: dict) -> bool:
    """A dict that stands for a Go struct (every key a field name): a missing key is an error, as
    Docker's templates see it; any other dict is a map, where it is <no value>."""
    return bool(d) and all(isinstance(k, str) and STRUCT_KEY.match(k) for k in d)


def _field(value, names: str):
    for name in names.split(".")[1:] if names != "." else []:
        if isinstance(value, dict):
            if name not in value and _is_struct(value):
                raise TemplateError(f'executing "" at <{names}>: map has no entry for key "{name}"')
            value = value.get(name, NO_VALUE)
        elif value is NO_VALUE:  # (a missing key's fields are missing too, as Go's)
            return NO_VALUE
        elif value is None:
            raise TemplateError(f"nil pointer evaluating interface {{}}.{name}")
        else:
            raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
    return value


class _Run:
    def __init__(self, data):
        self.vars = [{"$": data}]

    def var(self, name: str):
        for scope in reversed(self.vars):
            if name in scope:
                return scope[name]
        raise TemplateError(f"undefined variable: {name}")

    def nodes(self, nodes, dot, out: list) -> None:
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                decl, _ = node[1]
                value = self.pipeline(node[1], dot)
                if not decl:
                    out.append(go_text(value))
            elif kind in ("if", "with"):
                self.vars.append({})
                value = self.pipeline(node[1], dot)
                if truth(value):
                    self.nodes(node[2], value if kind == "with" else dot, out)
                else:
                    self.nodes(node[3], dot, out)
                self.vars.pop()
            else:  # range
                self.vars.append({})
                decl, _ = node[1]
                value = self.pipeline(node[1], dot, declare=False)
                items = sorted(value.items()) if isinstance(value, dict) else \
                    list(enumerate(value)) if isinstance(value, (list, tuple)) else \
                    list(enumerate(range(value))) if isinstance(value, int) and not isinstance(value, bool) else None
                if items is None and value not in (None, NO_VALUE):
                    raise TemplateError(f"range can't iterate over {go_text(value)}")
                for key, item in items or []:
                    if len(decl) == 1:
                        self.vars[-1][decl[0]] = item
                    elif len(decl) == 2:
                        self.vars[-1][decl[0]], self.vars[-1][decl[1]] = key, item
                    self.nodes(node[2], item, out)
                if not items:
                    self.nodes(node[3], dot, out)
                self.vars.pop()

    def pipeline(self, pipe, dot, declare=True):
        decl, commands = pipe
        value, first = None, True
        for command in commands:
            value = self.command(command, dot, None if first else value, not first)
            first = False
        if decl and declare:
            self.vars[-1][decl[0]] = value
        return value

    def arg(self, node, dot):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "field":
            return _field(dot, node[1])
        if kind == "var":
            return self.var(node[1])
        if kind == "pipe":
            return self.pipeline(node[1], dot)
        if kind == "chain":
            return _field(self.arg(node[1], dot), node[2])
        if kind == "func":
            return self.call(node[1], [], dot)
        raise TemplateError(f"unexpected {node!r}")

    def call(self, name, arg_nodes, dot, piped=None, has_piped=False):
        if name in ("and", "or"):  # lazy, returning the deciding operand, as Go's
            nodes = list(arg_nodes)
            values = (self.arg(n, dot) for n in nodes)
            result = None
            for v in list(values) + ([piped] if has_piped else []):
                result = v
                if truth(v) != (name == "and"):
                    return v
            return result
        args = [self.arg(n, dot) for n in arg_nodes] + ([piped] if has_piped else [])
        try:
            return FUNCTIONS[name](*args)
        except TemplateError:
            raise
        except (TypeError, AttributeError, ValueError) as e:
            raise TemplateError(f"error calling {name}: {e}") from None

    def command(self, command, dot, piped, has_piped):
        head, rest = command[0], command[1:]
        if head[0] == "func":
            return self.call(head[1], rest, dot, piped, has_piped)
        if head[0] in ("field", "chain") and (rest or has_piped):  # a method: .Label "key"
            method = self.arg(head, dot)
            if not callable(method):
                raise TemplateError(f"{head[-1]} is not a method but has arguments")
            return method(*[self.arg(n, dot) for n in rest], *([piped] if has_piped else []))
        if rest or has_piped:
            raise TemplateError(f"can't give argument to non-function {head[-1]}")
        value = self.arg(head, dot)
        return value


def parse(template: str):
    nodes, _ = _Parser(template).parse()
    return nodes


def render(template: str, data) -> str:
    """Run `template` on `data`; TemplateError says what is wrong, in Go's words where it can."""
    out: list[str] = []
    runner = _Run(data)
    runner.nodes(parse(template), data, out)
    return "".join(out)


def tabulate(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Go's tabwriter as Docker sets it up (minwidth 10, padding 3): tab-ended cells become
    columns as wide as their widest cell; the text after the last tab is not padded."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths.get(i, 0), len(cell) + padding, minwidth)
    return "\n".join("".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])) + row[-1] for row in rows)
