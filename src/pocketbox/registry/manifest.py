"""Manifest media types and platform selection (OCI image-spec and Docker's schema2).

An index (OCI) or manifest list (Docker) points at one manifest per platform; we pick the
host's (or --platform's) following containerd's normalisation of architectures/variants."""
import json
import os
from dataclasses import dataclass

from pocketbox.errors import RegistryError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.docker.distribution.manifest.v1+json",
)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
ACCEPT = ", ".join(INDEX_TYPES + MANIFEST_TYPES)

LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.diff.tar",
}

_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
         "i386": "386", "i686": "386"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def normalize_platform(os_: str, arch: str, variant: str = "") -> Platform:
    arch = _ARCH.get(arch.lower(), arch.lower())
    variant = (variant or "").lower()
    if arch == "arm64" and variant in ("8", "v8", "v8.0"):
        variant = ""
    elif arch == "arm":
        if variant in ("", "7"):
            variant = "v7"
        elif variant in ("5", "6", "8"):
            variant = "v" + variant
    elif arch == "amd64" and variant == "v1":
        variant = ""
    return Platform(os_.lower(), arch, variant)


def host_platform() -> Platform:
    machine = os.uname().machine
    if machine.startswith("armv7"):
        return Platform("linux", "arm", "v7")
    return normalize_platform("linux", machine)


def parse_platform(text: str) -> Platform:
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise RegistryError(f"invalid platform {text!r}: use os/arch[/variant], for example linux/arm64")
    return normalize_platform(*parts)


def select_manifest(index: dict, want: Platform) -> dict:
    """The descriptor in `index` for platform `want`; attestation entries are skipped."""
    candidates = []
    for d in index.get("manifests", []):
        p = d.get("platform") or {}
        if (d.get("annotations") or {}).get("vnd.docker.reference.type") == "attestation-manifest":
            continue
        got = normalize_platform(p.get("os", ""), p.get("architecture", ""), p.get("variant", ""))
        if got.os != want.os or got.architecture != want.architecture:
            continue
        if want.variant and got.variant and got.variant != want.variant:
            continue
        candidates.append((got.variant == want.variant, d))
    if not candidates:
        have = sorted({str(normalize_platform((d.get("platform") or {}).get("os", "?"),
                                              (d.get("platform") or {}).get("architecture", "?"),
                                              (d.get("platform") or {}).get("variant", "")))
                       for d in index.get("manifests", [])})
        raise RegistryError(f"no matching manifest for {want} in the manifest list entries (has: {', '.join(have)})")
    candidates.sort(key=lambda c: not c[0])
    return candidates[0][1]


def parse_manifest(body: bytes, content_type: str) -> dict:
    """Decode a manifest, refusing schema1 and a body whose mediaType contradicts Content-Type."""
    content_type = (content_type or "").split(";")[0].strip()
    if content_type in SCHEMA1:
        raise RegistryError("this image uses the Docker schema1 manifest format, which is deprecated and not supported")
    try:
        m = json.loads(body)
    except ValueError:
        raise RegistryError("the registry sent a manifest that is not valid JSON") from None
    if m.get("schemaVersion") == 1:
        raise RegistryError("this image uses the Docker schema1 manifest format, which is deprecated and not supported")
    media_type = m.get("mediaType") or ""
    if not media_type:
        media_type = OCI_INDEX if "manifests" in m else OCI_MANIFEST
        m["mediaType"] = media_type
    if content_type and content_type not in ("application/json", "application/octet-stream") and content_type != media_type:
        raise RegistryError(f"manifest media type {media_type!r} does not match its Content-Type {content_type!r}")
    if media_type not in INDEX_TYPES + MANIFEST_TYPES:
        raise RegistryError(f"unsupported manifest media type {media_type!r}")
    return m
