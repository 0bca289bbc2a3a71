"""`pocketbox pull` against a real registry: manifests, platforms, compression, verification,
hostile layers, interruption and concurrency."""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import HOSTILE, requires_root
from helpers.proxies import Canned, Proxy

pytestmark = requires_root


def store_layers(pb) -> list[Path]:
    d = pb.root / "layers"
    return sorted(d.iterdir()) if d.is_dir() else []


def staging_left(pb) -> list[Path]:
    d = pb.root / "tmp"
    return sorted(d.iterdir()) if d.is_dir() else []


def inspect(pb, name) -> dict:
    return json.loads(pb("image", "inspect", name).stdout)[0]


def test_pull_prints_docker_style_and_stores_the_image(pb, test_images):
    ref = test_images.ref("busybox")
    r = pb("pull", ref.rsplit(":", 1)[0])
    lines = r.stdout.splitlines()
    assert lines[0] == "Using default tag: latest"
    assert lines[1] == "latest: Pulling from library/busybox"
    assert any(line.endswith(": Pull complete") for line in lines)
    assert f"Digest: {test_images.digests['busybox']['digest']}" in lines
    assert f"Status: Downloaded newer image for {ref}" in lines
    assert lines[-1] == ref
    info = inspect(pb, ref)
    assert info["RepoTags"] == [ref]
    lower = Path(info["GraphDriver"]["Data"]["LowerDir"])
    assert (lower / "bin/busybox").stat().st_size > 100_000
    assert os.readlink(lower / "bin/sh") == "/bin/busybox"
    again = pb("pull", ref)
    assert f"Status: Image is up to date for {ref}" in again.stdout
    quiet = pb("pull", "-q", ref)
    assert quiet.stdout == ref + "\n"


def test_layered_image_matches_umoci_unpack(pb, test_images, tmp_path):
    """The overlay of our lower dirs must show exactly the tree umoci builds from the same image."""
    ref = test_images.ref("layered")
    pb("pull", ref)
    info = inspect(pb, ref)
    lowers = info["GraphDriver"]["Data"]["LowerDir"]
    assert len(lowers.split(":")) == 3
    merged = tmp_path / "merged"
    merged.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers}", str(merged)], check=True)
    try:
        bundle = tmp_path / "bundle"
        subprocess.run(["umoci", "unpack", "--image", f"{test_images.layouts / 'layered'}:latest", str(bundle)],
                       check=True, capture_output=True)
        ours, theirs = _tree(merged), _tree(bundle / "rootfs")
    finally:
        subprocess.run(["umount", str(merged)], check=True)
    assert ours == theirs
    assert "data/old1" not in ours and ours["data/new"][0] == "file"      # opaque dir
    assert "etc/group" not in ours and "bin/arch" not in ours             # whiteouts
    assert ours["bin/suid"][1] == 0o4755                                  # setuid kept
    assert ours["keep/kept"][0] == "file" and ours["keep"][1] == 0o750    # merged dir, mode from top
    assert ours["implicit"][1] == 0o755  # a parent with no tar entry is made 0755, as containerd does
    layer2 = Path(lowers.split(":")[1])
    assert os.stat(layer2 / "data/hl").st_ino == os.stat(layer2 / "data/old1").st_ino
    top = Path(lowers.split(":")[0])
    assert os.getxattr(top / "data", "trusted.overlay.opaque") == b"y"
    assert os.stat(top / "etc/group").st_rdev == 0


def _tree(root: Path) -> dict:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("symlink", os.readlink(p), st.st_uid, st.st_gid)
            elif p.is_dir():
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid)
            elif p.is_fifo():
                out[rel] = ("fifo", st.st_mode & 0o7777, st.st_uid, st.st_gid)
            else:
                out[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid, p.read_bytes(), int(st.st_mtime))
    return out


@pytest.mark.parametrize("name", ["multi", "multilist"])
def test_manifest_list_picks_the_host_platform_or_the_asked_one(pb, test_images, name):
    ref = test_images.ref(name)
    pb("pull", ref)
    info = inspect(pb, ref)
    assert info["Architecture"] == "amd64"
    assert info["IndexDigest"].startswith("sha256:")
    pb("rmi", ref)
    pb("pull", "--platform", "linux/arm64", ref)
    info = inspect(pb, ref)
    assert info["Architecture"] == "arm64"
    lower = Path(info["GraphDriver"]["Data"]["LowerDir"])
    assert (lower / "arch").read_text() == "arm64"
    r = pb("pull", "--platform", "linux/s390x", ref, expect=1)
    assert "no matching manifest for linux/s390x" in r.stderr
    assert "Traceback" not in r.stderr
    r = pb("pull", "--platform", "bogus", ref, expect=1)
    assert "invalid platform" in r.stderr


def test_zstd_layers(pb, test_images):
    pb("pull", test_images.ref("zstd"))
    info = inspect(pb, test_images.ref("zstd"))
    assert info["Layers"][1]["MediaType"].endswith("+zstd")
    top = Path(info["GraphDriver"]["Data"]["LowerDir"].split(":")[0])
    assert (top / "zstd-marker").read_text() == "zstd"


def test_uncompressed_layers(pb, test_images):
    pb("pull", test_images.ref("plain"))
    info = inspect(pb, test_images.ref("plain"))
    assert info["Layers"][0]["MediaType"] == "application/vnd.oci.image.layer.v1.tar"
    assert info["Layers"][0]["Digest"] == info["Layers"][0]["DiffID"]
    assert (Path(info["GraphDriver"]["Data"]["LowerDir"]) / "plain-marker").read_text() == "uncompressed"


def test_pull_by_digest(pb, test_images):
    digest = test_images.digests["busybox"]["digest"]
    ref = f"{test_images.host}/library/busybox@{digest}"
    r = pb("pull", ref)
    assert f"{digest}: Pulling from library/busybox" in r.stdout
    assert inspect(pb, ref)["RepoDigests"] == [f"{test_images.host}/library/busybox@{digest}"]


def test_digest_mismatch_leaves_nothing_behind(pb, test_images):
    layer = test_images.digests["corrupt"]
    manifest_path = test_images.layouts / "corrupt/blobs/sha256" / layer["digest"][7:]
    blob_digest = json.loads(manifest_path.read_text())["layers"][0]["digest"]
    data = test_images.registry.blob_data_path(blob_digest)
    original = data.read_bytes()
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF
    data.write_bytes(bytes(corrupted))
    try:
        r = pb("pull", test_images.ref("corrupt"), expect=1)
    finally:
        data.write_bytes(original)
    assert "mismatch" in r.stderr or "not valid gzip" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert store_layers(pb) == [] and staging_left(pb) == []
    assert not (pb.root / "blobs/sha256" / blob_digest[7:]).exists()
    pb("pull", test_images.ref("corrupt"))  # the registry is healthy again: the pull completes


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_layers_never_write_outside_the_layer(pb, test_images, name):
    markers = [Path("/pbtest-escape-dotdot"), Path("/pbtest-escape-symlink"), Path("/pbtest-escape-absolute")]
    r = pb("pull", test_images.ref(name), expect=None)
    for m in markers:
        assert not m.exists(), f"{name} wrote {m} on the host"
    if r.returncode == 0:
        info = inspect(pb, test_images.ref(name))
        lower = Path(info["GraphDriver"]["Data"]["LowerDir"])
        assert any(lower.rglob("pbtest-escape-*")), "the entry was kept inside the layer"
    else:
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "layer" in r.stderr
        assert store_layers(pb) == [] and staging_left(pb) == []
    expected_to_fail = {"hostile-dotdot", "hostile-hardlink"}
    assert (r.returncode != 0) == (name in expected_to_fail)


def test_pull_errors_are_one_clear_line(pb, test_images):
    r = pb("pull", f"{test_images.host}/library/busybox:nosuchtag", expect=1)
    assert r.stderr.strip() == f"pocketbox: manifest for {test_images.host}/library/busybox:nosuchtag not found: manifest unknown"
    r = pb("pull", f"{test_images.host}/library/nosuchimage", expect=1)
    assert "not found" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = pb("pull", "Upper/Case", expect=1)
    assert "must be lowercase" in r.stderr
    r = pb("pull", "bad::name", expect=1)
    assert "invalid reference format" in r.stderr
    assert not (pb.root / "layers").exists()


def test_schema1_is_refused_and_429_is_retried(pb):
    schema1 = json.dumps({"schemaVersion": 1, "name": "old", "tag": "latest", "fsLayers": []}).encode()
    path = "/v2/library/old/manifests/latest"
    server = Canned({
        "/v2/": (200, {}, b"{}"),
        path: [(429, {"Retry-After": "1"}, b"slow down"),
               (200, {"Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"}, schema1)],
    })
    try:
        r = pb("pull", f"{server.host}/library/old", expect=1)
    finally:
        server.stop()
    assert "schema1" in r.stderr and "not supported" in r.stderr
    assert server.hits.count(path) == 2


def test_mirror_serves_docker_hub_names(pb, test_images):
    r = pb("pull", "busybox", env={"POCKETBOX_REGISTRY_MIRROR": f"http://{test_images.host}"})
    assert "Status: Downloaded newer image for busybox:latest" in r.stdout
    assert r.stdout.splitlines()[-1] == "docker.io/library/busybox:latest"
    assert "busybox" in pb("images").stdout.splitlines()[1].split()[0]


def test_insecure_registries_only_for_loopback_or_listed(pb, test_images, tmp_path):
    """In a throwaway network namespace, serve the registry on a non-loopback address."""
    addr = "192.0.2.10"
    config = json.loads(test_images.registry.config_path.read_text())
    config["http"]["addr"] = f"{addr}:5000"
    cfg = tmp_path / "config.yml"
    cfg.write_text(json.dumps(config))
    ref = f"{addr}:5000/library/busybox"
    script = f"""
        ip link set lo up && ip addr add {addr}/32 dev lo
        docker-registry serve {cfg} >/dev/null 2>&1 & reg=$!
        for i in $(seq 100); do (exec 3<>/dev/tcp/{addr}/5000) 2>/dev/null && break; sleep 0.1; done
        {' '.join(__import__('conftest').pocketbox_argv())} pull -q {ref}; echo "plain=$?"
        POCKETBOX_INSECURE_REGISTRIES={addr}:5000 {' '.join(__import__('conftest').pocketbox_argv())} pull -q {ref}; echo "listed=$?"
        kill $reg; wait $reg 2>/dev/null
    """
    r = subprocess.run(["unshare", "--net", "bash", "-c", script], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    assert "plain=1" in r.stdout, r.stdout + r.stderr
    assert "cannot reach registry" in r.stderr
    assert "listed=0" in r.stdout, r.stdout + r.stderr


def _wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError("timed out")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupted_pull_leaves_no_usable_partial_layer(pb, test_images, sig):
    proxy = Proxy(test_images.host)
    proxy.delay = 0.02
    try:
        ref = f"{proxy.host}/library/big"
        p = pb.popen("pull", ref, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for(lambda: proxy.blob_bytes_sent > 1 << 20)
        p.send_signal(sig)
        p.wait(30)
        assert p.returncode == (-9 if sig == signal.SIGKILL else 130)
        assert store_layers(pb) == [] or all((d / "layer.json").exists() for d in store_layers(pb))
        assert "big" not in pb("images").stdout
        if sig == signal.SIGINT:
            assert not [p for p in staging_left(pb) if p.name.startswith("layer-")]
        proxy.delay = 0
        pb("pull", ref)
        assert not [p for p in staging_left(pb) if p.name.startswith("layer-")]
        info = inspect(pb, ref)
        top = Path(info["GraphDriver"]["Data"]["LowerDir"].split(":")[0])
        assert (top / "big").stat().st_size == 6 << 20
    finally:
        proxy.stop()


def test_dropped_connection_is_retried_then_reported(pb, test_images):
    proxy = Proxy(test_images.host)
    try:
        ref = f"{proxy.host}/library/big"
        proxy.cut_after, proxy.cuts = 300_000, 100
        r = pb("pull", ref, expect=1)
        assert "stream ended after" in r.stderr and "Traceback" not in r.stderr
        assert store_layers(pb) == [] and not staging_left(pb)
        proxy.cuts = 1
        r = pb("pull", ref)
        assert "Retrying" in r.stdout
    finally:
        proxy.stop()


def test_concurrent_pulls_of_one_image(pb, test_images):
    proxy = Proxy(test_images.host)
    proxy.delay = 0.002
    try:
        ref = f"{proxy.host}/library/big"
        procs = [pb.popen("pull", "-q", ref, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
        results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    finally:
        proxy.stop()
    assert all(code == 0 for _, _, code in results), results
    assert len(store_layers(pb)) == 2
    assert all((d / "layer.json").exists() for d in store_layers(pb))
    assert len(pb("images", "-q").stdout.split()) == 1
    assert not staging_left(pb)


def test_not_root_is_refused_before_writing_anything(tmp_path):
    from conftest import pocketbox_argv

    root = tmp_path / "state"
    os.chmod(tmp_path, 0o777)
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *pocketbox_argv(),
                        "pull", "busybox"], capture_output=True, text=True,
                       env={**os.environ, "POCKETBOX_ROOT": str(root)})
    assert r.returncode == 1
    assert "sudo" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not root.exists()
