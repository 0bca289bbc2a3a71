"""Images as the user sees them: names and tags, listing, inspect, removal and garbage collection.

Names live in repositories.json ("docker.io/library/debian:latest" -> image ID); an image that
loses its last name is "dangling" (<none>:<none>), as in Docker."""
from pocketbox import events, reference
from pocketbox.errors import Conflict, NotFound, PocketboxError
from pocketbox.image.store import Store
from pocketbox.state import read_json, remove_tree

from pocketbox.image.names import GC_LOCK, IMAGES_LOCK, register_image  # noqa: F401 (the engine's names)


def find_image(store: Store, name: str) -> dict:
    """Look an image up by name[:tag], name@digest, full ID or unique ID prefix (a name first, as
    Docker: an image named `beef` is found as such, not as the ID prefix beef)."""
    candidate = name[len("sha256:"):] if name.startswith("sha256:") else name
    if candidate == name and 0 < len(name) < 64 and all(c in "0123456789abcdef" for c in name):
        image_id = store.repositories().get(reference.parse(name).tagged_name)
        record = store.image(image_id) if image_id else None
        if record:
            return record
    if candidate and all(c in "0123456789abcdef" for c in candidate) and len(candidate) <= 64:
        matches = [r for r in store.all_images() if r["Id"][7:].startswith(candidate)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise Conflict(f"image ID prefix {name!r} is ambiguous: it matches {len(matches)} images")
        if len(candidate) == 64 or name.startswith("sha256:"):
            raise NotFound(f"No such image: {name}")
    ref = reference.parse(name)
    if ref.digest:
        want = f"{ref.familiar_repository}@{ref.digest}"
        for r in store.all_images():
            if want in r.get("RepoDigests", []):
                return r
        raise NotFound(f"No such image: {name}")
    image_id = store.repositories().get(ref.tagged_name)
    record = store.image(image_id) if image_id else None
    if not record:
        raise NotFound(f"No such image: {ref.familiar()}")
    return record


def parents(records: list[dict]) -> set[str]:
    """IDs of the images another image was built on (a build's steps): Docker's intermediate images."""
    return {r["Parent"] for r in records if r.get("Parent")}


def listed_images(store: Store, all_images: bool = False) -> list[dict]:
    """The image records `images` lists: an untagged image that is a build step of another is
    intermediate, listed with `all_images` only."""
    records = store.all_images()
    hidden = set() if all_images else parents(records)
    return [r for r in records if r["Id"] not in hidden or r.get("RepoTags")]


def list_images(store: Store, all_images: bool = False) -> list[dict]:
    """One row per name (and one <none> row per dangling image), newest first."""
    rows = []
    for r in listed_images(store, all_images):
        digests = r.get("RepoDigests", [])
        tags = r.get("RepoTags", []) or [None]
        for t in tags:
            repo, tag = ("<none>", "<none>") if t is None else t.rsplit(":", 1)
            digest = next((d.split("@", 1)[1] for d in digests if d.split("@", 1)[0] == repo), "<none>")
            rows.append({"Repository": repo, "Tag": tag, "Digest": digest, "Id": r["Id"],
                         "Created": r.get("Created", ""), "Size": r.get("Size", 0)})
    rows.sort(key=lambda row: (row["Created"], row["Repository"], row["Tag"]), reverse=True)
    return rows


def filter_images(store: Store, rows: list[dict], items) -> list[dict]:
    """`images -f`: reference (a glob on name:tag), dangling, label, before, since (Docker's keys)."""
    import fnmatch

    from pocketbox.engine import filters

    wanted = filters.parse(items, ("reference", "dangling", "label", "before", "since"))
    for key, values in wanted.items():
        if key == "reference":
            rows = [r for r in rows if any(fnmatch.fnmatchcase(f"{r['Repository']}:{r['Tag']}", v if ":" in v else
                                                               v + ":*") for v in values)]
        elif key == "dangling":
            if any(v not in ("true", "false", "1", "0") for v in values):
                raise PocketboxError(f"Invalid filter 'dangling={values[0]}'")
            dangling, steps = values[-1] in ("true", "1"), parents(store.all_images())
            rows = [r for r in rows if (r["Repository"] == "<none>" and r["Id"] not in steps) == dangling]
        elif key == "label":
            rows = [r for r in rows if filters.label_matches(
                ((store.image(r["Id"]) or {}).get("Config") or {}).get("Labels") or {}, values)]
        else:
            edge = [find_image(store, v).get("Created", "") for v in values]
            rows = [r for r in rows if (r["Created"] < min(edge) if key == "before" else r["Created"] > max(edge))]
    return rows


def containers_using(store: Store, image_id: str) -> list[dict]:
    """Container records (containers/<id>/container.json) made from `image_id`."""
    d = store.root / "containers"
    if not d.is_dir():
        return []
    out = []
    for p in d.glob("*/container.json"):
        rec = read_json(p)
        if rec and rec.get("Image") == image_id:
            out.append(rec)
    return out


def remove_image(store: Store, name: str, force: bool = False) -> list[tuple[str, str]]:
    """`rmi`: untag `name`; delete the image once it has no name left. Returns Docker's lines."""
    with store.lock(GC_LOCK), store.lock(IMAGES_LOCK):
        record = find_image(store, name)
        repos = store.repositories()
        by_name = not _looks_like_id(name, record)
        actions: list[tuple[str, str]] = []
        tags = record.get("RepoTags", [])
        if by_name and len(tags) > 1:
            ref = reference.parse(name)
            if ref.tag:
                familiar = ref.familiar()
                repos.pop(ref.tagged_name, None)
                record["RepoTags"] = [t for t in tags if t != familiar]
                store.save_image(record)
                store.save_repositories(repos)
                events.emit("image", "untag", record["Id"], {"name": familiar})
                return [("Untagged", familiar)]
        if not by_name and len(tags) > 1 and not force:
            raise Conflict(f"conflict: unable to delete {record['Id'][7:19]} (must be forced) - "
                           "image is referenced in multiple repositories")
        records = store.all_images()
        if not by_name and not tags and record["Id"] in parents(records):
            raise Conflict(f"conflict: unable to delete {record['Id'][7:19]} (cannot be forced) - "
                           "image has dependent child images")
        users = containers_using(store, record["Id"])
        if users and not force:
            raise Conflict(f"conflict: unable to remove repository reference {name!r} (must force) - "
                           f"container {users[0]['Id'][:12]} is using its referenced image {record['Id'][7:19]}")
        for t in tags:
            repos.pop(reference.parse(t).tagged_name, None)
            actions.append(("Untagged", t))
        for d in record.get("RepoDigests", []):
            actions.append(("Untagged", d))
        store.save_repositories(repos)
        store.image_path(record["Id"]).unlink()
        actions.append(("Deleted", record["Id"]))
        for kind, what in actions:
            events.emit("image", "untag" if kind == "Untagged" else "delete", record["Id"],
                        {"name": what if kind == "Untagged" else record["Id"]})
        actions += _remove_unused_parents(store, record)
        released: list[str] = []
        collect_garbage(store, released)
        return actions + [("Deleted", chain) for chain in released]  # (Docker lists the layers it frees too)


def _remove_unused_parents(store: Store, record: dict) -> list[tuple[str, str]]:
    """After `record` went: its untagged build steps that nothing else uses go too, as in Docker."""
    actions = []
    parent = record.get("Parent")
    while parent:
        image = store.image(parent)
        records = store.all_images()
        if not image or image.get("RepoTags") or parent in parents(records) or containers_using(store, parent):
            break
        store.image_path(parent).unlink()
        actions.append(("Deleted", parent))
        events.emit("image", "delete", parent, {"name": parent})
        parent = image.get("Parent")
    return actions


def _looks_like_id(name: str, record: dict) -> bool:
    candidate = name[len("sha256:"):] if name.startswith("sha256:") else name
    return record["Id"][7:].startswith(candidate) and "/" not in name and ":" not in candidate


def prune_images(store: Store, all_images: bool = False) -> tuple[list[tuple[str, str]], int]:
    """Remove dangling images (all unused ones with `all_images`); returns actions and bytes freed."""
    actions: list[tuple[str, str]] = []
    freed = 0
    with store.lock(GC_LOCK), store.lock(IMAGES_LOCK):
        repos = store.repositories()
        records = store.all_images()
        steps = parents(records)
        for record in records:
            if (record.get("RepoTags") and not all_images) or (record["Id"] in steps and not all_images):
                continue
            if containers_using(store, record["Id"]):
                continue
            for t in record.get("RepoTags", []):
                repos.pop(reference.parse(t).tagged_name, None)
                actions.append(("Untagged", t))
            store.image_path(record["Id"]).unlink()
            actions.append(("Deleted", record["Id"]))
            if not all_images:
                actions += _remove_unused_parents(store, record)
        store.save_repositories(repos)
        freed = collect_garbage(store)
    return actions, freed


def collect_garbage(store: Store, released: list | None = None) -> int:
    """Delete layers and blobs that no image (and no container) refers to; the ChainIDs of the
    layers deleted are added to `released`.

    The caller holds GC_LOCK exclusively (then IMAGES_LOCK): pulls hold GC_LOCK shared from their
    first layer to their image record, so nothing they staged is collected under them."""
    freed = 0
    chains, blobs = set(), set()
    for r in store.all_images():
        chains.update(layer["ChainID"] for layer in r.get("Layers", []))
        blobs.update(layer["Digest"] for layer in r.get("Layers", []))
        blobs.update(d for d in (r["Id"], r.get("ManifestDigest"), r.get("IndexDigest")) if d)
    for d in (store.root / "containers").glob("*/container.json"):
        rec = read_json(d) or {}
        chains.update(rec.get("ImageLayers", []))
    layers_dir = store.root / "layers"
    if layers_dir.is_dir():
        for p in layers_dir.iterdir():
            if f"sha256:{p.name}" not in chains:
                info = read_json(p / "layer.json", {}) or {}
                freed += int(info.get("Size", 0))
                remove_tree(p)
                if released is not None:
                    released.append(f"sha256:{p.name}")
    blob_dir = store.root / "blobs" / "sha256"
    if blob_dir.is_dir():
        for p in blob_dir.iterdir():
            if f"sha256:{p.name}" not in blobs:
                freed += p.stat().st_size
                p.unlink()
    return freed



def images_with_names(store: Store, names: list[str]) -> list[tuple[dict, list[str]]]:
    """For `save`: each image once, with the names the user gave it by (IDs add no name)."""
    chosen: dict[str, tuple[dict, list[str]]] = {}
    for n in names:
        record = find_image(store, n)
        _, kept = chosen.setdefault(record["Id"], (record, []))
        if not _looks_like_id(n, record):
            ref = reference.parse(n)
            if ref.tag and ref.familiar() not in kept:
                kept.append(ref.familiar())
    return list(chosen.values())


def inspect_image(store: Store, record: dict) -> dict:
    """`image inspect`: the record plus where it lives on disk (Docker's GraphDriver section)."""
    lowers = [str(store.layer_dir(layer["ChainID"]) / "diff") for layer in reversed(record.get("Layers", []))]
    out = dict(record)
    out.setdefault("Parent", "")
    # (Docker's: the config of the container a step ran in; clients such as docker-compose read it)
    out.setdefault("ContainerConfig", {"Hostname": "", "Domainname": "", "User": "", "Env": None, "Cmd": None,
                                       "Image": "", "Volumes": None, "WorkingDir": "", "Entrypoint": None,
                                       "OnBuild": None, "Labels": None})
    out["GraphDriver"] = {"Name": "overlay", "Data": {"LowerDir": ":".join(lowers)}}
    out["RecordPath"] = str(store.image_path(record["Id"]))
    return out
