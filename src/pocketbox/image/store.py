"""The image store under the state root: content-addressed blobs, unpacked layers, image records.

    blobs/sha256/<hex>          manifests, configs and layer blobs exactly as the registry sent them
    layers/<chain-hex>/diff/    one unpacked layer in overlayfs form (a lower dir), keyed by chain ID
    layers/<chain-hex>/layer.json
    images/<id-hex>.json        one image: its config, manifest, layers and names
    repositories.json           name:tag -> image ID (what `images` lists)
    tmp/                        staging; a blob or layer is renamed into place only once verified

A layer directory exists only once it is complete (rename is atomic), so an interrupted pull
never leaves a half layer a run could use."""
import os

from pathlib import Path

from pocketbox.errors import DigestMismatch, NotFound
from pocketbox.locks import locked
from pocketbox.reference import SHA256_DIGEST
from pocketbox.state import ensure_dir, private_root, read_json, remove_tree, state_root, write_json_atomic


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))."""
    import hashlib

    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


def hex_of(digest: str) -> str:
    if not SHA256_DIGEST.match(digest):
        raise DigestMismatch(f"invalid digest {digest!r}: expected sha256: and 64 lowercase hex characters")
    return digest[len("sha256:"):]


class Store:
    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def open(cls) -> "Store":
        root = state_root()
        if os.geteuid() == 0:
            private_root(root)
        return cls(root)

    # --- paths --------------------------------------------------------------------------------
    @property
    def tmp(self) -> Path:
        tmp = ensure_dir(self.root / "tmp")
        if not getattr(self, "_tmp_swept", False):
            self._tmp_swept = True
            self.clean_stale_tmp()
        return tmp

    def clean_stale_tmp(self) -> list[str]:
        """Remove what killed processes left in tmp/ (names carry their maker's pid:
        PREFIX.PID.RANDOM); returns the names removed."""
        removed = []
        try:
            names = os.listdir(self.root / "tmp")
        except FileNotFoundError:
            return removed
        for name in names:
            parts = name.split(".")
            if len(parts) < 3 or not parts[-2].isdigit():
                continue
            try:
                os.kill(int(parts[-2]), 0)
                continue  # its maker is alive (or the pid was reused: kept, to be safe)
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            path = self.root / "tmp" / name
            if path.is_dir() and not path.is_symlink():
                remove_tree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(name)
        return removed

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / hex_of(digest)

    def layer_dir(self, chain_id: str) -> Path:
        return self.root / "layers" / hex_of(chain_id)

    def image_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{hex_of(image_id)}.json"

    def lock(self, name: str, shared: bool = False):
        return locked(self.root / "locks" / f"{name}.lock", shared=shared)

    def staging(self, prefix: str) -> Path:
        """A fresh directory name in tmp/ (same filesystem as the store, so rename works)."""
        return self.tmp / f"{prefix}.{os.getpid()}.{os.urandom(4).hex()}"

    # --- blobs --------------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def read_blob(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None

    def put_blob_bytes(self, data: bytes, digest: str | None = None) -> str:
        import hashlib

        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest and digest != got:
            raise DigestMismatch(f"digest mismatch: expected {digest}, got {got}")
        if not self.has_blob(got):
            tmp = self.staging("blob")
            tmp.write_bytes(data)
            self.commit_blob(tmp, got)
        return got

    def commit_blob(self, tmp: Path, digest: str) -> None:
        dest = self.blob_path(digest)
        ensure_dir(dest.parent)
        os.chmod(tmp, 0o644)
        os.rename(tmp, dest)

    # --- layers -------------------------------------------------------------------------------
    def has_layer(self, chain_id: str) -> bool:
        return (self.layer_dir(chain_id) / "layer.json").is_file()

    def layer_info(self, chain_id: str) -> dict:
        return read_json(self.layer_dir(chain_id) / "layer.json", {}) or {}

    def commit_layer(self, staged: Path, chain_id: str, info: dict) -> None:
        write_json_atomic(staged / "layer.json", info, mode=0o644)
        ensure_dir(self.root / "layers")
        os.rename(staged, self.layer_dir(chain_id))

    def clean_stale_staging(self, prefix: str) -> None:
        """Remove staging dirs a killed process left for `prefix` (call with that prefix's lock held)."""
        tmp = self.root / "tmp"
        if tmp.is_dir():
            for p in tmp.glob(f"{prefix}.*"):
                remove_tree(p)

    def clean_dead_staging(self, prefixes: tuple[str, ...]) -> None:
        """Remove staging dirs and files of `prefixes` whose process (the pid in their name) is
        gone: what a build killed with -9 left. A live process's own are left alone."""
        from pocketbox.processes import process_alive

        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        for p in tmp.iterdir():
            prefix, _, rest = p.name.partition(".")
            pid = rest.partition(".")[0]
            if prefix in prefixes and pid.isdigit() and not process_alive(int(pid), None):
                remove_tree(p) if p.is_dir() and not p.is_symlink() else p.unlink()

    # --- images -------------------------------------------------------------------------------
    def repositories(self) -> dict:
        return read_json(self.root / "repositories.json", {}) or {}

    def save_repositories(self, repos: dict) -> None:
        ensure_dir(self.root)
        write_json_atomic(self.root / "repositories.json", repos, mode=0o644)

    def image(self, image_id: str) -> dict | None:
        return read_json(self.image_path(image_id))

    def save_image(self, record: dict) -> None:
        ensure_dir(self.root / "images")
        write_json_atomic(self.image_path(record["Id"]), record, mode=0o644)

    def all_images(self) -> list[dict]:
        d = self.root / "images"
        if not d.is_dir():
            return []
        out = []
        for p in sorted(d.glob("*.json")):
            rec = read_json(p)
            if rec:
                out.append(rec)
        return out
