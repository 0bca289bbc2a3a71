"""`load` and `save`: images as tar archives, the offline way to move them.

`save` writes what Docker 25+ writes: an OCI image layout (oci-layout, index.json, blobs/)
plus Docker's manifest.json, so both `docker load` and OCI tools (skopeo, umoci) read it.
`load` reads either form: a `docker save` archive (manifest.json) or an OCI layout tar."""
import json
import os
import tarfile
import time
from io import BytesIO

from pocketbox import reference
from pocketbox.errors import PocketboxError
from pocketbox.image.ingest import ingest_layer
from pocketbox.image.records import image_record
from pocketbox.image.store import Store, chain_ids, hex_of
from pocketbox.registry.manifest import (DOCKER_CONFIG, DOCKER_MANIFEST, INDEX_TYPES, Platform,
                                         host_platform, select_manifest)

REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class ArchiveError(PocketboxError):
    pass


def _normalize(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


class _Archive:
    """Random access to the members of an image archive, by their name without a leading ./"""

    def __init__(self, tar: tarfile.TarFile):
        self.tar = tar
        self.members = {_normalize(m.name): m for m in tar.getmembers()}

    def _member(self, name: str) -> tarfile.TarInfo:
        m = self.members.get(_normalize(name))
        if m is None:
            raise ArchiveError(f"invalid archive: {name!r} is missing")
        if not m.isreg():
            raise ArchiveError(f"invalid archive: {name!r} is not a regular file")
        return m

    def read(self, name: str, limit: int = 16 << 20) -> bytes:
        m = self._member(name)
        if m.size > limit:
            raise ArchiveError(f"invalid archive: {name!r} is too large for a manifest or config")
        return self.tar.extractfile(m).read()

    def opener(self, name: str):
        return lambda: self.tar.extractfile(self._member(name))


def load(path_or_file, platform: Platform | None = None) -> list[tuple[str | None, str]]:
    """Load every image of the archive; returns (name or None, image ID) pairs."""
    from pocketbox.image.names import GC_LOCK

    store = Store.open()
    try:
        tar = tarfile.open(fileobj=path_or_file, mode="r:*") if hasattr(path_or_file, "read") \
            else tarfile.open(path_or_file, mode="r:*")
    except (tarfile.TarError, OSError) as e:
        raise ArchiveError(f"cannot read the archive: {e}") from None
    with tar, store.lock(GC_LOCK, shared=True):
        archive = _Archive(tar)
        if "manifest.json" in archive.members:
            entries = _docker_entries(archive)
        elif "index.json" in archive.members and "oci-layout" in archive.members:
            entries = _oci_entries(archive, store, platform or host_platform())
        else:
            raise ArchiveError("this is neither a `docker save` archive (no manifest.json) "
                               "nor an OCI image layout (no index.json/oci-layout)")
        try:
            return _load_entries(store, entries)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ArchiveError(f"invalid archive: {type(e).__name__}: {e}") from None


def _load_entries(store: Store, entries) -> list[tuple[str | None, str]]:
    from pocketbox.image.names import register_image

    loaded = []
    for config_bytes, layer_descs, manifest, manifest_bytes, index_digest, tags in entries:
        config = json.loads(config_bytes)
        image_id = store.put_blob_bytes(config_bytes)
        diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
        if len(diff_ids) != len(layer_descs):
            raise ArchiveError(f"image config lists {len(diff_ids)} layers but the archive has {len(layer_descs)}")
        for d in diff_ids:
            hex_of(d)  # a diff ID becomes a path: it must be a well-formed digest
        chains = chain_ids(diff_ids)
        infos = [ingest_layer(store, c, d, desc, opener) for c, d, (desc, opener) in zip(chains, diff_ids, layer_descs)]
        if manifest is None:  # docker save: make the schema2 manifest it does not carry
            manifest = {
                "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": {"mediaType": DOCKER_CONFIG, "size": len(config_bytes), "digest": image_id},
                "layers": [{"mediaType": _layer_type(i), "size": i["CompressedSize"], "digest": i["Digest"]}
                           for i in infos],
            }
            manifest_bytes = json.dumps(manifest, indent=3).encode()
        manifest_digest = store.put_blob_bytes(manifest_bytes)
        record = image_record(image_id=image_id, config=config, manifest=manifest,
                              manifest_digest=manifest_digest, index_digest=index_digest,
                              layer_infos=infos, chains=chains)
        refs = [reference.parse(t) for t in tags] or [None]
        for ref in refs:
            register_image(store, record, ref, None)
            loaded.append((ref.familiar() if ref else None, image_id))
    return loaded


def _layer_type(info: dict) -> str:
    return DOCKER_LAYER_TAR if info["Digest"] == info["DiffID"] else DOCKER_LAYER_GZIP


def _docker_entries(archive: _Archive):
    try:
        items = json.loads(archive.read("manifest.json"))
    except ValueError:
        raise ArchiveError("invalid archive: manifest.json is not JSON") from None
    for item in items:
        config_bytes = archive.read(item["Config"])
        layers = [({"digest": None, "size": None, "mediaType": ""}, archive.opener(p)) for p in item.get("Layers", [])]
        yield config_bytes, layers, None, None, None, item.get("RepoTags") or []


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{hex_of(digest)}"


def _oci_entries(archive: _Archive, store: Store, platform: Platform):
    index = json.loads(archive.read("index.json"))
    for desc in index.get("manifests", []):
        annotations = desc.get("annotations") or {}
        index_digest = None
        body = archive.read(_blob_name(desc["digest"]))
        manifest = json.loads(body)
        if (manifest.get("mediaType") or desc.get("mediaType")) in INDEX_TYPES:
            index_digest = store.put_blob_bytes(body, desc["digest"])
            child = select_manifest(manifest, platform)
            body = archive.read(_blob_name(child["digest"]))
            manifest = json.loads(body)
        config_bytes = archive.read(_blob_name(manifest["config"]["digest"]))
        layers = [(layer, archive.opener(_blob_name(layer["digest"]))) for layer in manifest.get("layers", [])]
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME) or ""
        tags = [name] if _is_full_reference(name) else []
        yield config_bytes, layers, manifest, body, index_digest, tags


def _is_full_reference(name: str) -> bool:
    """An OCI ref.name may be a bare tag ("latest"): that names no repository."""
    if not name:
        return False
    try:
        reference.parse(name)
    except PocketboxError:
        return False
    return ":" in name or "/" in name or "@" in name


def save(records: list[tuple[dict, list[str]]], out) -> None:
    """Write images (record, names to keep) as one tar to the binary file `out`."""
    store = Store.open()
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []}
    docker_manifest = []
    written: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        def add_bytes(name: str, data: bytes) -> None:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o444, int(time.time())
            tar.addfile(ti, BytesIO(data))

        def add_blob(digest: str) -> None:
            if digest in written:
                return
            written.add(digest)
            path = store.blob_path(digest)
            ti = tar.gettarinfo(str(path), arcname=_blob_name(digest))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            with open(path, "rb") as f:
                tar.addfile(ti, f)

        for record, names in records:
            manifest_bytes = store.read_blob(record["ManifestDigest"])
            manifest = json.loads(manifest_bytes)
            add_blob(record["Id"])
            for layer in manifest["layers"]:
                add_blob(layer["digest"])
            add_blob(record["ManifestDigest"])
            for name in names or [None]:
                ann = {}
                if name:
                    ref = reference.parse(name)
                    ann = {CONTAINERD_NAME: ref.name, REF_NAME: ref.tag or ""}
                index["manifests"].append({"mediaType": manifest.get("mediaType", DOCKER_MANIFEST),
                                           "digest": record["ManifestDigest"], "size": len(manifest_bytes),
                                           **({"annotations": ann} if ann else {})})
            docker_manifest.append({"Config": _blob_name(record["Id"]), "RepoTags": names,
                                    "Layers": [_blob_name(layer["digest"]) for layer in manifest["layers"]]})
        add_bytes("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        add_bytes("index.json", json.dumps(index).encode())
        add_bytes("manifest.json", json.dumps(docker_manifest).encode())


def save_to_path(records, path: str) -> None:
    """Write to `path` via a temporary file, so a failure leaves no half archive behind."""
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            save(records, f)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
