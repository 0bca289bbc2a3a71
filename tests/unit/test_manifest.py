import json

import pytest

from pocketbox.errors import RegistryError
from pocketbox.registry.manifest import (DOCKER_LIST, OCI_INDEX, OCI_MANIFEST, Platform, normalize_platform,
                                         parse_manifest, parse_platform, select_manifest)


def entry(arch, variant="", os="linux", digest=None, attestation=False):
    d = {"digest": digest or f"sha256:{arch}{variant}", "platform": {"os": os, "architecture": arch}}
    if variant:
        d["platform"]["variant"] = variant
    if attestation:
        d["platform"] = {"os": "unknown", "architecture": "unknown"}
        d["annotations"] = {"vnd.docker.reference.type": "attestation-manifest"}
    return d


INDEX = {"manifests": [entry("amd64"), entry("arm", "v6"), entry("arm", "v7"), entry("arm64", "v8"),
                       entry("unknown", attestation=True), entry("amd64", os="windows", digest="sha256:win")]}


@pytest.mark.parametrize("want, digest", [
    (Platform("linux", "amd64"), "sha256:amd64"),
    (Platform("linux", "arm64"), "sha256:arm64v8"),
    (Platform("linux", "arm", "v7"), "sha256:armv7"),
    (Platform("linux", "arm", "v6"), "sha256:armv6"),
    (Platform("windows", "amd64"), "sha256:win"),
])
def test_select(want, digest):
    assert select_manifest(INDEX, want)["digest"] == digest


def test_select_none_lists_what_exists():
    with pytest.raises(RegistryError) as e:
        select_manifest(INDEX, Platform("linux", "s390x"))
    assert "linux/s390x" in str(e.value) and "linux/arm64" in str(e.value)


def test_normalisation_and_parsing():
    assert normalize_platform("Linux", "x86_64") == Platform("linux", "amd64")
    assert normalize_platform("linux", "aarch64", "v8") == Platform("linux", "arm64")
    assert normalize_platform("linux", "arm") == Platform("linux", "arm", "v7")
    assert parse_platform("linux/arm64/v8") == Platform("linux", "arm64")
    assert str(parse_platform("linux/arm/7")) == "linux/arm/v7"
    with pytest.raises(RegistryError):
        parse_platform("linux")


def test_parse_manifest_rules():
    m = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}
    assert parse_manifest(json.dumps(m).encode(), OCI_MANIFEST)["mediaType"] == OCI_MANIFEST
    with pytest.raises(RegistryError, match="does not match"):
        parse_manifest(json.dumps(m).encode(), DOCKER_LIST)
    with pytest.raises(RegistryError, match="schema1"):
        parse_manifest(b'{"schemaVersion": 1}', "application/json")
    no_type = {"schemaVersion": 2, "manifests": []}
    assert parse_manifest(json.dumps(no_type).encode(), OCI_INDEX)["mediaType"] == OCI_INDEX
    with pytest.raises(RegistryError, match="not valid JSON"):
        parse_manifest(b"{", OCI_MANIFEST)
