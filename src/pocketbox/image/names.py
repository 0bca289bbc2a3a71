"""Image names: repositories.json maps "docker.io/library/debian:latest" to an image ID, and each
image record lists its RepoTags and RepoDigests. Every layer that makes or receives an image (pull,
load, import, commit, build) names it through register_image; the engine lists and removes."""
from pocketbox import events, reference
from pocketbox.image.store import Store

IMAGES_LOCK = "images"
GC_LOCK = "gc"  # always taken before IMAGES_LOCK


def familiar(canonical: str) -> str:
    return reference.parse(canonical, default_tag=False).familiar()


def register_image(store: Store, record: dict, ref: reference.Reference | None, repo_digest: str | None) -> None:
    """Save `record` and point `ref`'s tag at it (moving the tag off any other image)."""
    with store.lock(IMAGES_LOCK):
        old = store.image(record["Id"])
        if old:
            record["RepoTags"] = old.get("RepoTags", [])
            record["RepoDigests"] = old.get("RepoDigests", [])
        repos = store.repositories()
        if ref is not None and ref.tag:
            _move_tag(store, repos, ref.tagged_name, record)
        if ref is not None and repo_digest:
            d = f"{ref.familiar_repository}@{repo_digest}"
            if d not in record["RepoDigests"]:
                record["RepoDigests"].append(d)
        store.save_image(record)
        store.save_repositories(repos)


def _move_tag(store: Store, repos: dict, canonical: str, record: dict) -> None:
    short = familiar(canonical)
    previous = repos.get(canonical)
    if previous and previous != record["Id"]:
        prev = store.image(previous)
        if prev:
            prev["RepoTags"] = [t for t in prev.get("RepoTags", []) if t != short]
            store.save_image(prev)
    repos[canonical] = record["Id"]
    if short not in record["RepoTags"]:
        record["RepoTags"].append(short)
        events.emit("image", "tag", record["Id"], {"name": short})
