"""Bring one layer into the store, from a registry response or an archive member, in one pass.

socket/file -> sha256 of the blob (copied to the blob file) -> decompress -> sha256 of the tar
(the DiffID) -> unpack into a staging dir. Both digests are checked before the blob and the
layer are renamed into the store; on any failure the staging directory is removed, so the
store never holds a partial layer."""
import errno
import http.client
import os
import socket
import time

from pocketbox.errors import DigestMismatch, PocketboxError
from pocketbox.image import streams
from pocketbox.image.store import Store, hex_of
from pocketbox.image.unpack import unpack
from pocketbox.state import remove_tree

ATTEMPTS = 3


class Cancelled(PocketboxError):
    pass


class _Cancellable:
    """Raises Cancelled at the next read once `cancel` is set (Ctrl-C in the main thread)."""

    def __init__(self, raw, cancel):
        self.raw = raw
        self.cancel = cancel

    def read(self, n: int = -1) -> bytes:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("pull cancelled")
        return self.raw.read(n)


def ingest_layer(store: Store, chain_id: str, diff_id: str, desc: dict, opener, show=None, cancel=None) -> dict:
    """Make layer `chain_id` present in the store; returns its layer.json info.

    `desc` has the blob's digest (None if unknown: computed), size and mediaType; `opener()`
    returns a readable of the blob bytes, used only when the blob is not stored already."""
    digest = desc.get("digest")
    short = (digest or diff_id)[7:19]
    show = show or (lambda *a: None)
    chain_hex = hex_of(chain_id)
    with store.lock(f"layer-{chain_hex}"):
        if store.has_layer(chain_id):
            show(short, "Already exists")
            return store.layer_info(chain_id)
        store.clean_stale_staging(f"layer-{chain_hex}")
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return _ingest_once(store, chain_id, diff_id, desc, opener, show, cancel)
            except (ConnectionError, socket.timeout, http.client.HTTPException):
                if attempt == ATTEMPTS or (cancel is not None and cancel.is_set()):
                    raise
                show(short, f"Retrying in {attempt} seconds")
                time.sleep(attempt)
    raise AssertionError("unreachable")


def _ingest_once(store, chain_id, diff_id, desc, opener, show, cancel) -> dict:
    digest, size, media_type = desc.get("digest"), desc.get("size"), desc.get("mediaType", "")
    short = (digest or diff_id)[7:19]
    staged = store.staging(f"layer-{hex_of(chain_id)}")
    os.mkdir(staged, 0o700)
    os.mkdir(staged / "diff", 0o755)
    source = sink = None
    have_blob = digest is not None and store.has_blob(digest)
    try:
        if have_blob:
            source = open(store.blob_path(digest), "rb")
        else:
            source = opener()
            sink = open(staged / "blob", "wb")
        blob = streams.VerifyingReader(_Cancellable(source, cancel), digest, size, sink)
        if not have_blob:
            blob.on_progress = lambda n: show(short, "Downloading", n, size)
        tar = streams.VerifyingReader(streams.decompressed(blob, media_type), diff_id)
        reader = streams.ThreadedReader(tar)  # fetch + hash + decompress on the other core
        try:
            result = unpack(reader, str(staged / "diff"))
            while reader.read(streams.CHUNK):  # the tar's end-of-archive padding is part of the DiffID
                pass
        finally:
            reader.close()
        blob.drain()
        blob.verify("layer")
        tar.verify("layer content (DiffID)")
        if sink is not None:
            sink.close()
            sink = None
            store.commit_blob(staged / "blob", blob.digest)
        info = {
            "ChainID": chain_id, "DiffID": diff_id, "Digest": blob.digest, "MediaType": media_type,
            "CompressedSize": blob.size, "Size": result.size, "Entries": result.entries,
            "Whiteouts": result.whiteouts, "OpaqueDirs": result.opaque_dirs,
        }
        store.commit_layer(staged, chain_id, info)
        from pocketbox import explain

        explain.emit("layer", f"layer {blob.digest[7:19]} ({blob.size} bytes) checked (sha256 and DiffID) and "
                     f"unpacked into {store.layer_dir(chain_id)}/diff: {result.entries} entries, "
                     f"{result.whiteouts} whiteouts, {result.opaque_dirs} opaque dirs",
                     "openat2(RESOLVE_IN_ROOT) for every entry; rename() into the store", "man 2 openat2")
        show(short, "Pull complete")
        return info
    except DigestMismatch:
        if have_blob:  # a corrupt blob in our store: drop it so that the next pull fetches it again
            os.unlink(store.blob_path(digest))
        raise
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise PocketboxError(f"no space left in {store.root} for layer {short}: free some (pocketbox system "
                                 "prune) or move the state root (POCKETBOX_ROOT)") from None
        raise
    finally:
        try:  # each step on its own: one that fails (a close on a full disk) must not skip the rest
            if sink is not None:
                sink.close()
        except OSError:
            pass
        finally:
            try:
                if source is not None:
                    source.close()
            finally:
                remove_tree(staged, ignore_errors=True)


def adopt_layer(store: Store, chain_id: str, diff_id: str, desc: dict, blob_path, tree: str) -> dict:
    """Make layer `chain_id` present from a directory pocketbox wrote itself, whose tar is the blob
    at `blob_path`: a build step's overlay upper dir (COPY, ADD, WORKDIR; no process of a
    container ever ran on it). The directory is renamed into the store instead of unpacking the
    blob it was made from again; its overlay xattrs other than opaque are dropped first."""
    from pocketbox.image.changes import OVERLAY_XATTR_PREFIXES, is_whiteout, walk_tree
    from pocketbox.image.unpack import OVERLAY_OPAQUE_XATTR

    with store.lock(f"layer-{hex_of(chain_id)}"):
        if store.has_layer(chain_id):
            remove_tree(tree, ignore_errors=True)
            return store.layer_info(chain_id)
        entries = size = whiteouts = opaque = 0
        for _, name, dirfd, st in walk_tree(tree):
            path = f"/proc/self/fd/{dirfd}/{name}"
            entries += 1
            size += st.st_size if (st.st_mode & 0o170000) in (0o100000, 0o120000) else 0  # files and links
            whiteouts += is_whiteout(st)
            try:
                keys = os.listxattr(path, follow_symlinks=False)
            except OSError:
                keys = []
            for key in keys:
                if key == OVERLAY_OPAQUE_XATTR:
                    opaque += 1
                elif key.startswith(OVERLAY_XATTR_PREFIXES):
                    os.removexattr(path, key, follow_symlinks=False)
        staged = store.staging(f"layer-{hex_of(chain_id)}")
        os.mkdir(staged, 0o700)
        try:
            os.rename(tree, staged / "diff")
            if not store.has_blob(desc["digest"]):
                store.commit_blob(blob_path, desc["digest"])
            info = {"ChainID": chain_id, "DiffID": diff_id, "Digest": desc["digest"], "MediaType": desc["mediaType"],
                    "CompressedSize": desc["size"], "Size": size, "Entries": entries, "Whiteouts": whiteouts,
                    "OpaqueDirs": opaque}
            store.commit_layer(staged, chain_id, info)
        finally:
            if staged.exists():
                remove_tree(staged, ignore_errors=True)
        return info
