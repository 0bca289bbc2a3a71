"""Docker's list filters (`ps -f`, and the Engine API's `filters`), applied to records.

A filter set is {key: [values]}: values of one key are alternatives (OR), keys combine (AND),
as Docker reads them. Errors are Docker's words."""
import re

from pocketbox.errors import PocketboxError

CONTAINER_KEYS = ("id", "name", "label", "status", "exited", "ancestor", "before", "since", "volume", "network",
                  "health", "publish", "expose")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse(items, known: tuple[str, ...]) -> dict[str, list[str]]:
    """`-f key=value` flags as a filter set."""
    wanted: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise PocketboxError(f"bad format of filter (expected name=value): {item}")
        if key not in known:
            raise PocketboxError(f"invalid filter '{key}'")
        wanted.setdefault(key, []).append(value)
    return wanted


def label_matches(labels: dict, wanted: list[str]) -> bool:
    """label=KEY or label=KEY=VALUE, every one of them (Docker ANDs labels)."""
    for w in wanted:
        key, sep, value = w.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def containers(records: list[dict], wanted: dict[str, list[str]], find) -> list[dict]:
    """The records that pass; `find(ref)` resolves the names before=/since= give."""
    out = records
    for key, values in wanted.items():
        if key == "name":  # a regular expression, matched with and without the leading /
            try:
                patterns = [re.compile(v) for v in values]
            except re.error as e:
                raise PocketboxError(f"invalid filter 'name={e.pattern}': {e}") from None
            out = [r for r in out if any(p.search(r["Name"]) or p.search(r["Name"].lstrip("/")) for p in patterns)]
        elif key == "id":
            out = [r for r in out if any(r["Id"].startswith(v) for v in values)]
        elif key == "status":
            bad = [v for v in values if v not in STATUSES]
            if bad:
                raise PocketboxError(f"Invalid filter 'status={bad[0]}'")
            out = [r for r in out if r["State"]["Status"] in values]
        elif key == "exited":
            try:
                codes = {int(v) for v in values}
            except ValueError:
                raise PocketboxError(f"invalid filter 'exited={values[0]}'") from None
            out = [r for r in out if r["State"]["Status"] == "exited" and r["State"]["ExitCode"] in codes]
        elif key == "label":
            out = [r for r in out if label_matches(r["Config"].get("Labels") or {}, values)]
        elif key == "ancestor":
            out = [r for r in out if any(_descends(r, v) for v in values)]
        elif key in ("before", "since"):
            created = [find(v)["Created"] for v in values]
            edge = min(created) if key == "before" else max(created)
            out = [r for r in out if (r["Created"] < edge if key == "before" else r["Created"] > edge)]
        elif key == "volume":
            out = [r for r in out if any(m.get("Name") in values or m.get("Destination") in values
                                         or m.get("Source") in values for m in r.get("Mounts", []))]
        elif key == "network":
            out = [r for r in out if set(values) & set(networks_of(r))]
        elif key == "health":
            out = [r for r in out if ((r["State"].get("Health") or {}).get("Status") or "none") in values]
        elif key in ("publish", "expose"):
            out = [r for r in out if any(_port_matches(r, key, v) for v in values)]
    return out


def networks_of(record: dict) -> list[str]:
    """The networks a container is on (or will be, once started): NetworkMode and `network connect`'s."""
    mode = record["HostConfig"].get("NetworkMode") or "bridge"
    names = [mode] if not mode.startswith("container:") else []
    names += [n for n in ((record.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}) if n not in names]
    return names


def _descends(record: dict, ref: str) -> bool:
    image = record.get("ImageName", "")
    bare = ref.split(":", 1)[0] if ":" in ref and "/" not in ref.split(":", 1)[1] else ref
    return ref in (image, record.get("Image")) or record.get("Image", "").startswith(("sha256:" + ref, ref)) \
        or (bare == ref and image.split(":", 1)[0] == ref)


def _port_matches(record: dict, key: str, value: str) -> bool:
    want = value if "/" in value else f"{value}/tcp"
    if key == "expose":
        return want in ((record["Config"].get("ExposedPorts") or {}) | (record["HostConfig"].get("PortBindings") or {}))
    bindings = record["HostConfig"].get("PortBindings") or {}
    return want in bindings or any(b.get("HostPort") == value.split("/")[0] for bs in bindings.values() for b in bs or [])
