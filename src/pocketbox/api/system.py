"""/_ping, /version, /info, /events, /system/df: what every client asks first."""
import json
import platform
import time

from pocketbox import __version__
from pocketbox.api.server import API_VERSION, MIN_API_VERSION, route


@route("GET", "/_ping")
def ping(h):
    h.send_text(200, "OK", headers={"Builder-Version": "1", "Cache-Control": "no-cache, no-store, must-revalidate",
                                    "Pragma": "no-cache"})


@route("HEAD", "/_ping")
def ping_head(h):
    ping(h)


def version_info() -> dict:
    engine = {"Version": __version__, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux",
              "Arch": {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine()),
              "KernelVersion": platform.release(), "GitCommit": "", "GoVersion": f"python{platform.python_version()}",
              "BuildTime": "", "Experimental": False}
    return {**engine, "Platform": {"Name": "pocketbox"},
            "Components": [{"Name": "Engine", "Version": __version__, "Details": {
                k: str(v) for k, v in engine.items() if k != "Version"}}]}


@route("GET", "/version")
def version(h):
    h.send_json(200, version_info())


@route("GET", "/info")
def info(h):
    from pocketbox.engine.system import info as collect

    data = collect()
    data.update({"ID": "pocketbox", "DockerRootDir": data.get("PocketboxRootDir", ""), "LoggingDriver": "json-file",
                 "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"], "Log": ["json-file"]},
                 "Swarm": {"LocalNodeState": "inactive"}, "Runtimes": {"pocketbox": {"path": "pocketbox"}},
                 "DefaultRuntime": "pocketbox", "IndexServerAddress": "https://index.docker.io/v1/",
                 "RegistryConfig": {"IndexConfigs": {}, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []}})
    h.send_json(200, data)


@route("GET", "/events")
def events(h):
    """The event log (pocketbox/events.py): since/until, filters; streamed until `until` or the client leaves."""
    from pocketbox import events as log
    from pocketbox.text.format import moment

    since = moment(h.arg("since"), "since") if h.arg("since") else None
    until = moment(h.arg("until"), "until") if h.arg("until") else None
    wanted = h.filters()
    past, position = log.read(since, until)
    h.start_stream()
    for event in past if since is not None or until is not None else []:
        if log.matches(event, wanted):
            h.chunk(json.dumps(event).encode() + b"\n")
    if until is not None and until <= time.time():
        h.end_stream()
        return
    for event in log.follow(position, until):
        if until is not None and event["timeNano"] / 1e9 > until:
            break
        if log.matches(event, wanted):
            h.chunk(json.dumps(event).encode() + b"\n")
    h.end_stream()


@route("GET", "/system/df")
def disk_usage(h):
    from pocketbox.api.listing import container_summary, image_summary
    from pocketbox.engine.containers import Containers
    from pocketbox.engine.volumes import Volumes

    engine = Containers()
    volumes = Volumes(engine.store.root)
    h.send_json(200, {
        "LayersSize": sum(int(i.get("Size", 0)) for i in engine.store.all_images()),
        "Images": image_summary(engine.store), "Containers": [container_summary(c) for c in engine.all()],
        "Volumes": [{**v, "UsageData": {"Size": volumes.size(v["Name"]), "RefCount": len(volumes.users(v["Name"], engine))}}
                    for v in volumes.all()],
        "BuildCache": []})
