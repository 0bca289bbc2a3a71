"""How Docker prints things: human sizes and durations, and column tables."""
import time
from datetime import datetime


def human_size(n: float) -> str:
    """Docker's units.HumanSize: decimal units, 3 significant digits (74.8MB)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g}{unit}"
        n /= 1000.0
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """Docker's units.HumanDuration ("About an hour", "3 weeks")."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = round(s / 3600)
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // 24 // 7} weeks"
    if h < 24 * 365 * 2:
        return f"{h // 24 // 30} months"
    return f"{h // 24 // 365} years"


def parse_time(value: str) -> float | None:
    """An RFC 3339 timestamp (as in image configs) as epoch seconds."""
    if not value:
        return None
    value = value.replace("Z", "+00:00")
    if "." in value:  # Python 3.11 takes at most 6 fractional digits
        head, _, rest = value.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        tz = rest[len(digits):]
        value = f"{head}.{digits[:6]}{tz}"
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def ago(timestamp: str) -> str:
    t = parse_time(timestamp)
    if t is None:
        return "N/A"
    return human_duration(time.time() - t) + " ago"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to the widest cell plus three spaces, as Docker's tabwriter prints them."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)] if rows else [len(h) for h in headers]
    lines = []
    for row in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines)


def render_template(template: str, obj) -> str:
    """The part of Go's text/template that `docker inspect -f` is used for: {{.A.B}} fields,
    {{json .A}}, {{index .A "key"}}. Lists and maps print as Go prints them ([a b], map[k:v])."""
    import json
    import re

    def value(path: str):
        v = obj
        for part in filter(None, path.strip().lstrip(".").split(".")) if path.strip() != "." else []:
            if not isinstance(v, dict) or part not in v:
                return None
            v = v[part]
        return v

    def go(v) -> str:  # how Go's fmt prints a value: [a b], map[k:v] (sorted), <nil>
        if v is None:
            return "<nil>"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + " ".join(go(x) for x in v) + "]"
        if isinstance(v, dict):
            return "map[" + " ".join(f"{k}:{go(v[k])}" for k in sorted(v)) + "]"
        return str(v)

    def show(v) -> str:
        return "<no value>" if v is None else go(v)

    def as_json(v) -> str:  # Go's json.Marshal: compact
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)

    def action(m) -> str:
        words = m.group(1).split()
        if len(words) == 1 and words[0].startswith("."):
            return show(value(words[0]))
        if len(words) == 2 and words[0] == "json" and words[1].startswith("."):
            return as_json(value(words[1]))
        if len(words) == 3 and words[0] == "index" and words[1].startswith("."):
            container, key = value(words[1]), words[2].strip('"')
            return show(container.get(key) if isinstance(container, dict) else None)
        raise ValueError(f"template: unsupported action {{{{{m.group(1).strip()}}}}} "
                         "(pocketbox knows {{.Field.Sub}}, {{json .Field}}, {{index .Field \"key\"}})")
    return re.sub(r"\{\{\s*(.*?)\s*\}\}", action, template)
