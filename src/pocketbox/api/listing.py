"""The list entries of the Engine API (/containers/json, /images/json): pocketbox's records in
the shapes Docker's clients read (Names with their leading slash, Unix times, Ports as objects)."""
from pocketbox.text.format import parse_time, status_text


def container_summary(record: dict, size: tuple[int, int] | None = None) -> dict:
    from pocketbox.network.ports import from_docker

    ports = []
    bound = (record.get("NetworkSettings") or {}).get("Ports") or {}
    for b in from_docker(bound):
        ports.append({"IP": b.shown_ip(), "PrivatePort": b.container_port, "PublicPort": b.host_port,
                      "Type": b.protocol})
    for key in (record["Config"].get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        if key not in bound and port.isdigit():
            ports.append({"PrivatePort": int(port), "Type": proto or "tcp"})
    networks = (record.get("NetworkSettings") or {}).get("Networks") or {}
    entry = {
        "Id": record["Id"], "Names": [record["Name"]], "Image": record.get("ImageName", ""),
        "ImageID": record["Image"], "Command": " ".join([record["Path"], *record.get("Args", [])]),
        "Created": int(parse_time(record["Created"]) or 0), "Ports": ports,
        "Labels": record["Config"].get("Labels") or {}, "State": record["State"]["Status"],
        "Status": status_text(record["State"]),
        "HostConfig": {"NetworkMode": record["HostConfig"].get("NetworkMode", "default")},
        "NetworkSettings": {"Networks": networks}, "Mounts": record.get("Mounts", []),
    }
    if size is not None:
        entry["SizeRw"], entry["SizeRootFs"] = size
    return entry


def image_summary(store, all_images: bool = False) -> list[dict]:
    """One entry per image (not per name), as Docker's /images/json (intermediate ones with `all`)."""
    from pocketbox.engine.images import listed_images

    out = []
    for r in listed_images(store, all_images):
        config = r.get("Config") or {}
        out.append({"Id": r["Id"], "ParentId": r.get("Parent", ""), "RepoTags": r.get("RepoTags") or ["<none>:<none>"],
                    "RepoDigests": r.get("RepoDigests") or ["<none>@<none>"],
                    "Created": int(parse_time(r.get("Created", "")) or 0), "Size": int(r.get("Size", 0)),
                    "VirtualSize": int(r.get("Size", 0)), "SharedSize": -1, "Containers": -1,
                    "Labels": config.get("Labels") or {}})
    out.sort(key=lambda e: e["Created"], reverse=True)
    return out
