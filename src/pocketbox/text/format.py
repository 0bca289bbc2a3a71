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


def go_size(n: float, binary: bool = False) -> str:
    """go-units' HumanSize / BytesSize (4 significant digits): 1.172MiB, 648B, 23.4GB."""
    base, units = (1024.0, ("B", "KiB", "MiB", "GiB", "TiB", "PiB")) if binary else \
        (1000.0, ("B", "kB", "MB", "GB", "TB", "PB"))
    for unit in units:
        if abs(n) < base or unit == units[-1]:
            return f"{n:.4g}{unit}"
        n /= base
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


def status_text(state: dict) -> str:
    """Docker's STATUS column: Created, Up 3 seconds, Exited (0) 5 seconds ago."""
    status = state["Status"]
    if status == "running":
        started = parse_time(state.get("StartedAt", ""))
        health = (state.get("Health") or {}).get("Status")
        shown = {"starting": " (health: starting)", "healthy": " (healthy)", "unhealthy": " (unhealthy)"}
        return ("Up " + human_duration(time.time() - started) if started else "Up") + shown.get(health, "")
    if status == "paused":
        started = parse_time(state.get("StartedAt", ""))
        return f"Up {human_duration(time.time() - started)} (Paused)" if started else "Up (Paused)"
    if status == "restarting":
        finished = parse_time(state.get("FinishedAt", ""))
        ago = f" {human_duration(time.time() - finished)} ago" if finished else ""
        return f"Restarting ({state.get('ExitCode', 0)}){ago}"
    if status == "exited":
        finished = parse_time(state.get("FinishedAt", ""))
        ago = f" {human_duration(time.time() - finished)} ago" if finished else ""
        return f"Exited ({state.get('ExitCode', 0)}){ago}"
    return status.capitalize()


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


def moment(value: str, flag: str) -> float:
    """--since/--until: an RFC 3339 timestamp, epoch seconds, or a duration ago (10s, 42m, 2h)."""
    from pocketbox.errors import PocketboxError

    units = {"s": 1, "m": 60, "h": 3600}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        return time.time() - float(value[:-1]) * units[value[-1]]
    if value.replace(".", "", 1).isdigit():
        return float(value)
    t = parse_time(value)
    if t is None:
        raise PocketboxError(f"invalid {flag} value {value!r}: a timestamp or a duration like 10m")
    return t


def go_time(nanos: int) -> str:
    """Go's RFC3339Nano in UTC: trailing zeros of the fraction dropped (2026-12-01T09:24:01.8777Z)."""
    seconds, fraction = divmod(nanos, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return text + (f".{digits}" if digits else "") + "Z"


def created_at(timestamp: str) -> str:
    """Go's time.Time.String() of a creation time, as Docker's CreatedAt fields print it."""
    t = parse_time(timestamp)
    return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(t)) if t is not None else ""


def ago(timestamp: str) -> str:
    t = parse_time(timestamp)
    if t is None:
        return "N/A"
    return human_duration(time.time() - t) + " ago"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns as Docker's tabwriter prints them (text/gotemplate.py: tabulate)."""
    from pocketbox.text.gotemplate import tabulate

    return tabulate(["\t".join(str(c) for c in row) for row in [headers, *rows]])


def render_template(template: str, obj) -> str:
    """`inspect -f`: a Go template run on one object (a bad template is a one-line error)."""
    from pocketbox.text.gotemplate import TemplateError, render
    from pocketbox.errors import PocketboxError

    try:
        return render(template, obj)
    except TemplateError as e:
        raise PocketboxError(f"template: {e}") from None


def inspect_output(records: list, template: str | None) -> str | None:
    """What `inspect` prints: a JSON array (4-space indent), or the template once per object."""
    import json

    from pocketbox.errors import PocketboxError

    if template is None:
        return json.dumps(records, indent=4)
    from pocketbox.text.gotemplate import TemplateError, parse

    try:
        parse(template)
    except TemplateError as e:  # Docker's CLI: checked before any object is looked at, status 64
        raise PocketboxError(f"template parsing error: template: {e}", 64) from None
    lines = []
    for record in records:
        try:
            lines.append(render_template(template, record))
        except PocketboxError:
            print("\n".join(lines + [""]))  # what Docker's CLI prints before the error
            raise
    return "\n".join(lines) if lines else None


def listing(rows: list[dict], fmt: str | None, default: str, headers: dict[str, str]) -> str | None:
    """A list command's output, as Docker's --format reads it: none or "table" is the default
    table, "table TEMPLATE" a table with a header made of `headers`, "json" one JSON object per
    line, anything else TEMPLATE once per row. None when there is nothing to print. A row's
    methods (.Label "k") are callables; in `headers` they are callables that return the title."""
    from pocketbox.text.gotemplate import tabulate

    fmt = default if fmt in (None, "", "table") else fmt
    if fmt == "json":
        fmt = "{{json .}}"
    is_table = fmt.startswith("table ") or fmt.startswith("table\t")
    template = fmt[6:] if is_table else fmt
    template = template.replace("\\t", "\t").replace("\\n", "\n")  # as typed in a shell: \t
    lines = [render_template(template, _without_methods(row) if fmt == "{{json .}}" else row) for row in rows]
    if is_table:
        header = render_template(template, headers)
        return tabulate([header] + lines)
    return "\n".join(lines) if lines else None


def _without_methods(row: dict) -> dict:
    return {k: v for k, v in row.items() if not callable(v)}
