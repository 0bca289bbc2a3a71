"""Pull an image: resolve the reference, choose the platform's manifest, fetch the config, and
stream every layer from the registry into the store (several layers at once).

Each layer takes one pass: socket -> sha256 of the blob (and the blob file) -> decompress ->
sha256 of the tar (the DiffID) -> unpack. Both digests are checked before the blob and the
layer directory are renamed into the store; on any failure the staging directory is removed."""
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pocketbox import explain
from pocketbox.errors import RegistryError
from pocketbox.image import streams
from pocketbox.image.records import image_record
from pocketbox.image.ingest import ingest_layer
from pocketbox.image.store import Store, chain_ids, hex_of
from pocketbox.reference import Reference
from pocketbox.registry.client import Registry
from pocketbox.registry.manifest import INDEX_TYPES, LAYER_TYPES, Platform, host_platform, select_manifest

MAX_CONCURRENT_LAYERS = 3
MAX_CONFIG_BYTES = 8 << 20


@dataclass
class PullResult:
    reference: Reference
    image_id: str
    manifest_digest: str
    up_to_date: bool


class _Progress:
    """Forwards layer progress to the caller's callback (the CLI draws it)."""

    def __init__(self, callback):
        self.callback = callback
        self.lock = threading.Lock()

    def __call__(self, layer_id: str, status: str, current: int | None = None, total: int | None = None):
        if self.callback:
            with self.lock:
                self.callback(layer_id, status, current, total)


def pull(ref: Reference, platform: Platform | None = None, progress=None, on_event=None,
         credentials: tuple[str, str] | None = None) -> PullResult:
    store = Store.open()
    registry = Registry(ref.domain, on_event=on_event, credentials=credentials)
    want = platform or host_platform()
    show = _Progress(progress)

    body, digest, manifest = registry.get_manifest(ref, ref.digest or ref.tag)
    index_digest = None
    if manifest["mediaType"] in INDEX_TYPES:
        store.put_blob_bytes(body, digest)
        index_digest = digest
        desc = select_manifest(manifest, want)
        explain.emit("image", f"the tag names a manifest list ({len(manifest.get('manifests', []))} entries): "
                     f"chose {want}: {desc['digest']}", "", "")
        body, digest, manifest = registry.get_manifest(ref, desc["digest"])
        if manifest["mediaType"] in INDEX_TYPES:
            raise RegistryError("nested manifest lists are not supported")
    config_desc = manifest.get("config") or {}
    layers = manifest.get("layers") or []
    for layer in layers:
        if layer.get("mediaType") not in LAYER_TYPES:
            raise RegistryError(f"unsupported layer media type {layer.get('mediaType')!r}")
        hex_of(layer.get("digest", ""))
    explain.emit("image", f"manifest {digest}: config {config_desc.get('digest')}, {len(layers)} layers "
                 f"({', '.join(layer['digest'][7:19] + ' ' + str(layer.get('size')) + ' B' for layer in layers)})", "", "")
    config_bytes = _fetch_small_blob(store, registry, ref, config_desc)
    try:
        config = json.loads(config_bytes)
    except ValueError:
        raise RegistryError(f"image config {config_desc.get('digest')} is not valid JSON") from None
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(diff_ids) != len(layers):
        raise RegistryError(f"image config lists {len(diff_ids)} layers but the manifest has {len(layers)}")
    for d in diff_ids:
        hex_of(d)
    chains = chain_ids(diff_ids)
    image_id = config_desc["digest"]

    from pocketbox.image.names import GC_LOCK, register_image

    with store.lock(GC_LOCK, shared=True):
        existing = store.image(image_id)
        up_to_date = existing is not None and all(store.has_layer(c) for c in chains)
        infos = [store.layer_info(c) for c in chains] if up_to_date else _fetch_layers(
            store, registry, ref, layers, diff_ids, chains, show)
        store.put_blob_bytes(body, digest)
        record = image_record(
            image_id=image_id, config=config, manifest=manifest, manifest_digest=digest,
            index_digest=index_digest, layer_infos=infos, chains=chains,
        )
        register_image(store, record, ref, index_digest or digest)
    from pocketbox import events

    events.emit("image", "pull", ref.familiar(), {"name": ref.familiar()})
    return PullResult(ref, image_id, index_digest or digest, up_to_date)


def _fetch_layers(store, registry, ref, layers, diff_ids, chains, show) -> list[dict]:
    """Fetch and unpack all layers, MAX_CONCURRENT_LAYERS at a time; Ctrl-C cancels them all."""
    _check_space(store, ref, [layer for layer, chain in zip(layers, chains) if not store.has_layer(chain)])
    cancel = threading.Event()
    infos: list[dict] = [{}] * len(layers)

    def work(i: int) -> None:
        infos[i] = ingest_layer(store, chains[i], diff_ids[i], layers[i],
                                lambda: registry.open_blob(ref, layers[i]["digest"]), show, cancel)

    for layer in layers:
        show(layer["digest"][7:19], "Pulling fs layer")
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_LAYERS) as pool:
        futures = [pool.submit(work, i) for i in range(len(layers))]
        try:
            for f in futures:
                f.result()
        except BaseException:
            cancel.set()
            for f in futures:
                f.cancel()
            raise
    return infos


def _check_space(store: Store, ref: Reference, missing: list[dict]) -> None:
    """Refuse at once a pull that cannot fit: each missing layer needs at least its compressed
    size twice (the blob kept, and its unpacked files, rarely smaller). A layer that unpacks to
    more than that is still caught while it is written (ENOSPC), and cleaned up."""
    needed = 2 * sum(int(layer.get("size") or 0) for layer in missing)
    st = os.statvfs(store.root)
    free = st.f_bavail * st.f_frsize
    if needed > free:
        raise RegistryError(f"not enough disk space in {store.root} to pull {ref}: its layers need at least "
                            f"{needed / 1e6:.1f} MB, {free / 1e6:.1f} MB are free")


def _fetch_small_blob(store: Store, registry: Registry, ref: Reference, desc: dict) -> bytes:
    digest = desc.get("digest", "")
    hex_of(digest)
    if store.has_blob(digest):
        return store.read_blob(digest)
    size = desc.get("size")
    if size is not None and size > MAX_CONFIG_BYTES:
        raise RegistryError(f"image config {digest} is larger than 8 MiB; refusing it")
    r = registry.open_blob(ref, digest)
    try:
        reader = streams.VerifyingReader(r, digest, size)
        data = b"".join(iter(lambda: reader.read(1 << 16), b""))
        reader.verify("config")
    finally:
        r.close()
    store.put_blob_bytes(data, digest)
    return data
