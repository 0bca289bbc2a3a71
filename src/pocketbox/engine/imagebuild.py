"""Making images from containers and tarballs: `commit`, `import`, `export`, `tag`, `history`.

commit: the container's upper dir becomes one more gzip layer (image/changes.py) on top of its
image; the new layer goes into the store through the same ingest path as a pulled one, so the
store unpacks it again and checks its DiffID: the commit is the exact inverse of the unpack."""
import hashlib
import json
import os
import time

from pocketbox import reference
from pocketbox.engine.containers import Containers
from pocketbox.engine.images import GC_LOCK, find_image, register_image
from pocketbox.errors import PocketboxError
from pocketbox.image.ingest import adopt_layer, ingest_layer
from pocketbox.image.records import image_record
from pocketbox.image.store import chain_ids
from pocketbox.registry.manifest import OCI_CONFIG, OCI_MANIFEST

LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
TO_OCI = {"application/vnd.docker.image.rootfs.diff.tar.gzip": LAYER_GZIP,
          "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": LAYER_GZIP,
          "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar"}


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class _Hashing:
    """A write-only file that hashes and counts what passes to `out`."""

    def __init__(self, out):
        self.out, self.hash, self.size = out, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def _gzip_writer(raw):
    try:  # ISA-L's deflate, as for pulls' inflate
        from isal import igzip

        return igzip.IGzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0)
    except ImportError:  # pragma: no cover
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0)


def apply_changes(config: dict, changes: list[str]) -> dict:
    """-c 'CMD ...' / 'ENTRYPOINT ...' / 'ENV K=V' / 'WORKDIR /d' / 'USER u' / 'LABEL k=v' / 'EXPOSE 80'."""
    config = dict(config)
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word in ("CMD", "ENTRYPOINT"):
            if rest.startswith("["):
                try:
                    value = json.loads(rest)
                except ValueError:
                    raise PocketboxError(f"invalid {word} in --change {change!r}: not a JSON array") from None
            else:
                value = ["/bin/sh", "-c", rest]
            config["Cmd" if word == "CMD" else "Entrypoint"] = value
        elif word == "ENV":
            key, sep, value = rest.partition("=")
            if not sep:
                key, _, value = rest.partition(" ")
            env = [e for e in config.get("Env") or [] if not e.startswith(key + "=")]
            config["Env"] = env + [f"{key}={value}"]
        elif word == "WORKDIR":
            config["WorkingDir"] = rest
        elif word == "USER":
            config["User"] = rest
        elif word == "LABEL":
            key, _, value = rest.partition("=")
            config["Labels"] = {**(config.get("Labels") or {}), key: value.strip('"')}
        elif word == "EXPOSE":
            port = rest if "/" in rest else f"{rest}/tcp"
            config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), port: {}}
        else:
            raise PocketboxError(f"invalid --change {change!r}: pocketbox knows CMD, ENTRYPOINT, ENV, WORKDIR, USER, "
                                 "LABEL, EXPOSE")
    return config


def _write_gzip_layer(store, write_tar) -> tuple[str, str, int, os.PathLike]:
    """Run write_tar(file) into a gzip blob in tmp/; returns (diff id, digest, size, path)."""
    path = store.staging("newlayer")
    with open(path, "wb") as raw:
        compressed = _Hashing(raw)
        gz = _gzip_writer(compressed)
        tar_side = _Hashing(gz)
        write_tar(tar_side)
        gz.close()
    return tar_side.digest, compressed.digest, compressed.size, path


def _new_image(store, base_config: dict, base_layers: list[dict], diff_id: str | None, desc: dict | None, blob_path,
               history: dict, ref, extra: dict | None = None, tree: str | None = None) -> str:
    """Store config + manifest for base + one new layer (none: diff_id None, an empty_layer
    history entry), ingest the layer, name the image. `extra`: more fields of the record
    (a build step's Parent and ContainerConfig); `tree`: the layer's files, made by pocketbox
    (ingest.adopt_layer), instead of an unpack of the blob."""
    config = dict(base_config)
    diff_ids = list((base_config.get("rootfs") or {}).get("diff_ids", [])) + ([diff_id] if diff_id else [])
    config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    config["history"] = list(base_config.get("history") or []) + [history if diff_id else
                                                                  dict(history, empty_layer=True)]
    config["created"] = history["created"]
    config.setdefault("architecture", _arch())
    config.setdefault("os", "linux")
    config_bytes = json.dumps(config, indent=2).encode()
    chains = chain_ids(config["rootfs"]["diff_ids"])
    with store.lock(GC_LOCK, shared=True):
        image_id = store.put_blob_bytes(config_bytes)
        new_layers = []
        infos = [store.layer_info(c) for c in chains[:len(base_layers)]]
        if diff_id:
            infos.append(adopt_layer(store, chains[-1], diff_id, desc, blob_path, tree) if tree else
                         ingest_layer(store, chains[-1], diff_id, desc, lambda: open(blob_path, "rb")))
            new_layers = [{"mediaType": LAYER_GZIP, "digest": desc["digest"], "size": desc["size"]}]
        layers = [dict(layer, mediaType=TO_OCI.get(layer["mediaType"], layer["mediaType"])) for layer in base_layers]
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "config": {"mediaType": OCI_CONFIG, "digest": image_id, "size": len(config_bytes)},
                    "layers": layers + new_layers}
        manifest_bytes = json.dumps(manifest, indent=2).encode()
        manifest_digest = store.put_blob_bytes(manifest_bytes)
        record = image_record(image_id=image_id, config=config, manifest=manifest, manifest_digest=manifest_digest,
                              index_digest=None, layer_infos=infos, chains=chains)
        record.update(extra or {})
        register_image(store, record, ref, None)
    return image_id


def layer_from_upper(store, upper: str, mountpoints: set[str], lowers: list[str], adopt: bool = False):
    """An overlay upper dir as a gzip layer blob in tmp/: (diff id, descriptor, path, tree), or
    None when it holds no change (Docker's empty layer). `adopt`: the dir itself moves to tmp/ as
    `tree`, to become the layer's files (a dir pocketbox wrote; see ingest.adopt_layer)."""
    from pocketbox.image.changes import write_layer

    count = 0

    def write(out):
        nonlocal count
        count = write_layer(upper, out, mountpoints, lowers)
    diff_id, digest, size, path = _write_gzip_layer(store, write)
    if count == 0:
        os.unlink(path)
        return None
    tree = None
    if adopt:
        tree = str(store.staging("layer-tree"))
        os.rename(upper, tree)
    return diff_id, {"digest": digest, "size": size, "mediaType": LAYER_GZIP}, path, tree


def new_image(store, base_config: dict, base_manifest_layers: list[dict], layer, history: dict, ref=None,
              extra: dict | None = None) -> str:
    """An image = base + `layer` (from layer_from_upper; None adds none); the layer's blob (and
    tree) are consumed."""
    from pocketbox.state import remove_tree

    if layer is None:
        return _new_image(store, base_config, base_manifest_layers, None, None, None, history, ref, extra)
    diff_id, desc, path, tree = layer
    try:
        return _new_image(store, base_config, base_manifest_layers, diff_id, desc, path, history, ref, extra, tree)
    finally:
        if os.path.exists(path):
            os.unlink(path)
        if tree and os.path.exists(tree):
            remove_tree(tree, ignore_errors=True)


def _arch() -> str:
    from pocketbox.registry.manifest import host_platform

    return host_platform().architecture


def commit(engine: Containers, ref: str, target: str | None, message: str = "", author: str = "",
           changes: list[str] | None = None, pause: bool = True) -> str:
    """`commit`: a new image = the container's image + its changes as one layer."""
    from pocketbox.engine.spec import mount_points
    from pocketbox.image.changes import write_layer
    record = engine.find(ref)
    store = engine.store
    image = store.image(record["Image"])
    if image is None:
        raise PocketboxError(f"the image of container {record['Id'][:12]} was removed: nothing to commit onto")
    new_ref = reference.parse(target) if target else None
    base_config = json.loads(store.read_blob(image["Id"]))
    base_manifest = json.loads(store.read_blob(image["ManifestDigest"]))
    base_config["config"] = apply_changes(base_config.get("config") or {}, changes or [])
    running = record["State"]["Status"] == "running"
    cgroup = engine.cgroup(record["Id"])
    if running and pause:
        cgroup.freeze()
    try:
        diff_id, digest, size, path = _write_gzip_layer(
            store, lambda out: write_layer(str(engine.dir(record["Id"]) / "upper"), out, mount_points(record),
                                           record["GraphDriver"]["Data"]["LowerDir"].split(":")))
    finally:
        if running and pause:
            cgroup.thaw()
    try:
        history = {"created": now(), "created_by": " ".join([record["Path"]] + record.get("Args", [])),
                   **({"comment": message} if message else {}), **({"author": author} if author else {})}
        if author:
            base_config["author"] = author
        return _new_image(store, base_config, base_manifest["layers"], diff_id,
                          {"digest": digest, "size": size, "mediaType": LAYER_GZIP}, path, history, new_ref)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def import_tarball(engine: Containers, source, target: str | None, message: str = "",
                   changes: list[str] | None = None, name: str = "-") -> str:
    """`import`: a root filesystem tar (plain, gzip or zstd) becomes a one-layer image."""
    from pocketbox.image import streams

    store = engine.store
    new_ref = reference.parse(target) if target else None

    def copy(out):
        reader = streams.decompressed(source)
        while chunk := reader.read(1 << 20):
            out.write(chunk)
    diff_id, digest, size, path = _write_gzip_layer(store, copy)
    try:
        import tarfile

        with open(path, "rb") as f:
            try:
                with tarfile.open(fileobj=streams.decompressed(f), mode="r|") as t:
                    t.next()
            except tarfile.TarError as e:
                raise PocketboxError(f"{name} is not a tar archive: {e}") from None
        config = {"architecture": _arch(), "os": "linux", "config": apply_changes({}, changes or []),
                  "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
        history = {"created": now(), "comment": message or f"Imported from {name}"}
        return _new_image(store, config, [], diff_id, {"digest": digest, "size": size, "mediaType": LAYER_GZIP},
                          path, history, new_ref)
    finally:
        if os.path.exists(path):
            os.unlink(path)


def export(engine: Containers, ref: str, out_fd: int) -> None:
    """`export`: the container's merged filesystem as a tar, made in a private mount namespace
    (an overlay of the upper dir on the image's layers, read-only: nothing to clean up)."""
    import tarfile

    from pocketbox import syscalls as sc

    record = engine.find(ref)
    lowers = [str(engine.dir(record["Id"]) / "upper")] + record["GraphDriver"]["Data"]["LowerDir"].split(":")
    pid = os.fork()
    if pid == 0:
        try:
            sc.unshare(sc.CLONE_NEWNS)
            sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
            mnt = str(engine.store.staging("export"))
            os.mkdir(mnt, 0o700)
            sc.mount("overlay", mnt, "overlay", sc.MS_RDONLY, f"lowerdir={':'.join(lowers)}")
            from pocketbox.image.changes import tar_entry, walk_tree

            with os.fdopen(out_fd, "wb", closefd=False) as out, \
                    tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for rel, name, dirfd, st in walk_tree(mnt):  # never follows the container's links
                    tar_entry(tar, rel, name, dirfd, st)
            sc.umount2(mnt, sc.MNT_DETACH)
            os.rmdir(mnt)
            os._exit(0)
        except BaseException as e:
            os.write(2, f"pocketbox: export: {e}\n".encode())
            os._exit(125)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise PocketboxError("export failed")


def history(store, name: str) -> list[dict]:
    """`history`: newest first; a history entry that made a layer gets that layer's size."""
    image = find_image(store, name)
    config = json.loads(store.read_blob(image["Id"]))
    layers = list(image.get("Layers", []))
    rows = []
    for h in config.get("history") or []:
        size = 0
        if not h.get("empty_layer") and layers:
            size = int(layers.pop(0).get("Size", 0))
        rows.append({"Created": h.get("created", ""), "CreatedBy": h.get("created_by", ""), "Size": size,
                     "Comment": h.get("comment", "")})
    rows.reverse()
    chain, parent = [image["Id"]], image.get("Parent")  # a build's steps are images of their own
    while parent and store.image(parent):
        chain.append(parent)
        parent = store.image(parent).get("Parent")
    for i, row in enumerate(rows):
        row["Id"] = chain[i] if i < len(chain) else "<missing>"
    return rows


def tag(store, source: str, target: str) -> None:
    record = find_image(store, source)
    ref = reference.parse(target)
    if ref.digest:
        raise PocketboxError(f"refusing to create a tag with a digest reference: {target}")
    register_image(store, record, ref, None)

