"""The JSON record pocketbox keeps for one image (images/<id>.json), shaped like `docker image inspect`."""
import time


def image_record(image_id: str, config: dict, manifest: dict, manifest_digest: str,
                 index_digest: str | None, layer_infos: list[dict], chains: list[str]) -> dict:
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    return {
        "Id": image_id,
        "RepoTags": [],
        "RepoDigests": [],
        "Created": config.get("created", ""),
        "Author": config.get("author", ""),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Variant": config.get("variant", ""),
        "Config": config.get("config") or {},
        "History": config.get("history") or [],
        "RootFS": {"Type": "layers", "Layers": diff_ids},
        "ManifestDigest": manifest_digest,
        "ManifestMediaType": manifest.get("mediaType", ""),
        "IndexDigest": index_digest,
        "Layers": [dict(info, ChainID=chain) for info, chain in zip(layer_infos, chains)],
        "Size": sum(int(info.get("Size", 0)) for info in layer_infos),
        "Metadata": {"LastTagTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
    }
