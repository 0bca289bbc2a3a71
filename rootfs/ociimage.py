"""Build OCI image layouts from root filesystem directories or hand-made layers.

The tests and the offline demo use it: `python3 rootfs/ociimage.py --rootfs DIR --out LAYOUT --tag T`
writes an OCI layout that `skopeo copy oci:LAYOUT:T docker://...` pushes to a registry, and
`--docker-archive FILE` writes a `docker save` style archive for `pocketbox load -i FILE`."""
import argparse
import gzip
import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "none": "application/vnd.oci.image.layer.v1.tar",
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}
FIXED_MTIME = 1700000000


def _root_owned(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def tar_dir(root: str | Path) -> bytes:
    """A tar of everything below `root` (names relative to it), owners as on disk."""
    buf = io.BytesIO()
    root = Path(root)
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for name in sorted(dirnames) + sorted(filenames):
                p = Path(dirpath) / name
                tar.add(str(p), arcname=str(p.relative_to(root)), recursive=False)
    return buf.getvalue()


def tar_entries(entries) -> bytes:
    """A tar from (name, kind, data_or_target, mode) tuples: kind is file, dir, symlink, hardlink, fifo."""
    buf = io.BytesIO()
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            name, kind, payload = entry[:3]
            mode = entry[3] if len(entry) > 3 else (0o755 if kind == "dir" else 0o644)
            ti = _root_owned(tarfile.TarInfo(name))
            ti.type, ti.mode, ti.mtime = types[kind], mode, FIXED_MTIME
            data = None
            if kind == "file":
                data = payload if isinstance(payload, bytes) else payload.encode()
                ti.size = len(data)
            elif kind in ("symlink", "hardlink"):
                ti.linkname = payload
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if kind == "zstd":
        return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE, check=True).stdout
    return data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    """An OCI image layout directory being written."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        (self.path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
        self.index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}

    def blob(self, data: bytes, media_type: str) -> dict:
        digest = sha256(data)
        (self.path / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def image(self, layers: list[bytes], compression: str = "gzip", arch: str = "amd64",
              config: dict | None = None, variant: str = "") -> dict:
        """Write layers, config and manifest; returns the manifest's descriptor."""
        descs = [self.blob(compress(t, compression), LAYER_TYPES[compression]) for t in layers]
        cfg = {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(FIXED_MTIME)),
            "architecture": arch, "os": "linux",
            "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                       "Cmd": ["sh"], **(config or {})},
            "rootfs": {"type": "layers", "diff_ids": [sha256(t) for t in layers]},
            "history": [{"created_by": f"pocketbox test layer {i}"} for i in range(len(layers))],
        }
        if variant:
            cfg["variant"] = variant
        config_desc = self.blob(json.dumps(cfg).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": descs}
        desc = self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)
        desc["platform"] = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
        return desc

    def image_index(self, manifests: list[dict]) -> dict:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return self.blob(json.dumps(index).encode(), OCI_INDEX)

    def tag(self, desc: dict, tag: str) -> None:
        entry = {k: v for k, v in desc.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        self.index["manifests"].append(entry)
        (self.path / "index.json").write_text(json.dumps(self.index))


def docker_archive(layout: Layout, desc: dict, repo_tag: str, out: str | Path) -> None:
    """A `docker save` archive (manifest.json + uncompressed layer tars) of one image of `layout`."""
    blobs = layout.path / "blobs" / "sha256"
    manifest = json.loads((blobs / desc["digest"][7:]).read_bytes())
    config = (blobs / manifest["config"]["digest"][7:]).read_bytes()
    with tarfile.open(out, "w") as tar:
        def add(name: str, data: bytes) -> None:
            ti = _root_owned(tarfile.TarInfo(name))
            ti.size, ti.mtime = len(data), FIXED_MTIME
            tar.addfile(ti, io.BytesIO(data))

        layer_names = []
        for i, layer in enumerate(manifest["layers"]):
            raw = (blobs / layer["digest"][7:]).read_bytes()
            if layer["mediaType"].endswith("+gzip"):
                raw = gzip.decompress(raw)
            name = f"{sha256(raw)[7:]}/layer.tar"
            add(name, raw)
            layer_names.append(name)
        add(f"{manifest['config']['digest'][7:]}.json", config)
        add("manifest.json", json.dumps([{"Config": f"{manifest['config']['digest'][7:]}.json",
                                          "RepoTags": [repo_tag], "Layers": layer_names}]).encode())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rootfs", required=True, help="root filesystem directory (one layer)")
    ap.add_argument("--out", required=True, help="OCI layout directory to write")
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--compression", choices=list(LAYER_TYPES), default="gzip")
    ap.add_argument("--docker-archive", help="also write a `docker save` archive here")
    ap.add_argument("--repo-tag", default="busybox:latest", help="name recorded in --docker-archive")
    args = ap.parse_args()
    layout = Layout(args.out)
    desc = layout.image([tar_dir(args.rootfs)], args.compression)
    layout.tag(desc, args.tag)
    if args.docker_archive:
        docker_archive(layout, desc, args.repo_tag, args.docker_archive)
    print(desc["digest"])


if __name__ == "__main__":
    main()
