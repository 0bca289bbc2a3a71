"""Shared fixtures: the pocketbox command with a private state root per test, a real registry
on 127.0.0.1 with images the suite builds itself (from rootfs/ recipes), and leak checks."""
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "rootfs"))
sys.path.insert(0, str(REPO / "tests"))

import ociimage  # noqa: E402
from helpers.registry import RegistryProcess, raw_push, skopeo_push  # noqa: E402

IS_ROOT = os.geteuid() == 0


if IS_ROOT:  # the whole suite runs in a network namespace of its own (helpers/netns.py)
    from helpers.netns import own_network_namespace

    own_network_namespace()


def pocketbox_argv() -> list[str]:
    exe = Path(sys.executable).parent / "pocketbox"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pocketbox"]


@dataclass
class Pocketbox:
    """Runs the real CLI as a user would, with POCKETBOX_ROOT pointing at this test's own root."""

    root: Path
    env: dict = field(default_factory=dict)

    def __call__(self, *args, input=None, expect=0, env=None, timeout=120, cwd=None) -> subprocess.CompletedProcess:
        full_env = {**os.environ, "POCKETBOX_ROOT": str(self.root), **self.env, **(env or {})}
        r = subprocess.run(pocketbox_argv() + [str(a) for a in args], input=input, capture_output=True,
                           text=True, env=full_env, timeout=timeout, cwd=cwd)
        if expect is not None and r.returncode != expect:
            raise AssertionError(f"pocketbox {' '.join(map(str, args))} exited {r.returncode}, expected {expect}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r

    def popen(self, *args, env=None, **kw) -> subprocess.Popen:
        full_env = {**os.environ, "POCKETBOX_ROOT": str(self.root), **self.env, **(env or {})}
        return subprocess.Popen(pocketbox_argv() + [str(a) for a in args], env=full_env, **kw)


def _pocketbox_cgroups() -> set[str]:
    """Every container cgroup pocketbox has on this machine (it names them by container ID)."""
    found = set()
    for base in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:
        d = base / "pocketbox"
        if d.is_dir():
            found |= {str(p) for p in d.iterdir() if p.is_dir()}
    return found


def _mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if str(root) in line]


@pytest.fixture
def pb(tmp_path):
    box = Pocketbox(tmp_path / "state")
    cgroups_before = _pocketbox_cgroups()  # a user's own containers (or another run's) are not ours
    yield box
    for rec in (box.root / "containers").glob("*/container.json") if (box.root / "containers").is_dir() else []:
        box("rm", "-f", rec.parent.name, expect=None)  # containers a test left: remove them the user's way
    assert not _mounts_under(tmp_path), "a test left mounts behind"
    assert not _pocketbox_cgroups() - cgroups_before, "a test left cgroups behind"
    assert not _veths(), "a test left veth pairs behind"


def links() -> list[str]:
    """The interfaces of this process's network namespace (/sys/class/net would show the
    namespace that mounted /sys, not ours)."""
    with open("/proc/self/net/dev") as f:
        return [line.split(":")[0].strip() for line in f.readlines()[2:]]


def _veths() -> list[str]:
    return [n for n in links() if n.startswith("veth")]


requires_root = pytest.mark.skipif(not IS_ROOT, reason="needs root")


# --- test images ------------------------------------------------------------------------------

@dataclass
class TestImages:
    host: str
    registry: RegistryProcess
    layouts: Path
    digests: dict

    def ref(self, name: str, tag: str = "latest") -> str:
        return f"{self.host}/library/{name}:{tag}"


def _layered_layers(busybox_tar: bytes) -> list[bytes]:
    """Three layers that exercise every unpack rule: whiteouts, an opaque dir, links, a FIFO, setuid."""
    layer2 = ociimage.tar_entries([
        ("data", "dir", None), ("data/old1", "file", "one"), ("data/old2", "file", "two"),
        ("data/hl", "hardlink", "data/old1"), ("data/link", "symlink", "/etc/passwd"),
        ("data/fifo", "fifo", None), ("bin/suid", "file", "#!/bin/sh\n", 0o4755),
        ("keep", "dir", None, 0o750), ("keep/kept", "file", "kept"),
    ])
    layer3 = ociimage.tar_entries([
        ("data", "dir", None), ("data/.wh..wh..opq", "file", ""), ("data/new", "file", "new"),
        ("etc/.wh.group", "file", ""), ("bin/.wh.arch", "file", ""), ("keep", "dir", None, 0o750),
        ("keep/added", "file", "added"), ("implicit/child", "file", "parent dir has no entry"),
    ])
    return [busybox_tar, layer2, layer3]


HOSTILE = {
    "hostile-dotdot": [("../../pbtest-escape-dotdot", "file", "x")],
    "hostile-symlink": [("evil", "symlink", "/"), ("evil/pbtest-escape-symlink", "file", "x")],
    "hostile-hardlink": [("stolen", "hardlink", "/etc/passwd")],
    "hostile-absolute": [("/pbtest-escape-absolute", "file", "x")],
}


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("busybox") / "rootfs"
    subprocess.run(["sh", str(REPO / "rootfs/busybox/build.sh"), str(d)], check=True, stdout=subprocess.DEVNULL)
    return d


@pytest.fixture
def busybox(pb, test_images) -> str:
    """busybox pulled into this test's state root; returns the name to run."""
    ref = test_images.ref("busybox")
    pb("pull", "-q", ref)
    return ref


@pytest.fixture(scope="session")
def debian_layout() -> Path:
    """Debian bookworm minbase, built with debootstrap once and cached by recipe hash."""
    import cache

    return cache.layout_from_recipe("debian")


@pytest.fixture(scope="session")
def debian_ref(debian_layout, test_images) -> str:
    """The Debian image in the suite's registry (pushed once per session)."""
    ref = f"{test_images.host}/library/debian:bookworm"
    skopeo_push(debian_layout, "latest", ref, test_images.layouts / "home")
    return ref


@pytest.fixture(scope="session")
def test_images(tmp_path_factory, busybox_rootfs):
    """A plain-HTTP registry on 127.0.0.1 holding every image the tests pull."""
    if not IS_ROOT:
        pytest.skip("needs root")
    work = tmp_path_factory.mktemp("registry")
    reg = RegistryProcess(work / "registry")
    layouts = work / "layouts"
    home = work / "home"
    busybox_tar = ociimage.tar_dir(busybox_rootfs)
    digests = {}

    def push(name: str, layers: list[bytes], compression="gzip", **kw):
        layout = ociimage.Layout(layouts / name)
        desc = layout.image(layers, compression, **kw)
        layout.tag(desc, "latest")
        skopeo_push(layouts / name, "latest", f"{reg.host}/library/{name}:latest", home)
        digests[name] = desc
        return desc

    push("busybox", [busybox_tar])
    push("layered", _layered_layers(busybox_tar))
    push("zstd", [busybox_tar, ociimage.tar_entries([("zstd-marker", "file", "zstd")])], "zstd")
    plain = ociimage.Layout(layouts / "plain")
    digests["plain"] = plain.image([ociimage.tar_entries([("plain-marker", "file", "uncompressed")])], "none")
    raw_push(layouts / "plain", digests["plain"], reg.host, "library/plain", "latest")
    push("corrupt", [ociimage.tar_entries([("corrupt-me", "file", "payload " * 1000)])])
    push("big", [busybox_tar, ociimage.tar_entries([("big", "file", os.urandom(6 << 20))])])
    for name, entries in HOSTILE.items():
        push(name, [ociimage.tar_entries(entries)])
    # a multi-platform image: an OCI index (and the same as a Docker manifest list)
    multi = ociimage.Layout(layouts / "multi")
    amd64 = multi.image([busybox_tar], arch="amd64")
    arm64 = multi.image([ociimage.tar_entries([("arch", "file", "arm64")])], arch="arm64", variant="v8")
    multi.tag(multi.image_index([amd64, arm64]), "latest")
    skopeo_push(layouts / "multi", "latest", f"{reg.host}/library/multi:latest", home, all_images=True)
    skopeo_push(layouts / "multi", "latest", f"{reg.host}/library/multilist:latest", home, all_images=True,
                extra_args=["--format", "v2s2"])
    digests["multi-amd64"], digests["multi-arm64"] = amd64, arm64
    images = TestImages(reg.host, reg, layouts, digests)
    images.busybox_tar = busybox_tar
    yield images
    reg.stop()


@pytest.fixture(scope="session")
def make_image(test_images):
    """make_image(name, entries, config=None, layers=None): busybox plus one layer of `entries`
    (ociimage.tar_entries tuples) and the given image config, pushed once; returns its reference."""
    made = {}

    def make(name: str, entries=(), config: dict | None = None, layers: list[bytes] | None = None) -> str:
        if name not in made:
            layout = ociimage.Layout(test_images.layouts / name)
            extra = layers if layers is not None else [ociimage.tar_entries(entries)] if entries else []
            desc = layout.image([test_images.busybox_tar, *extra], config=config)
            layout.tag(desc, "latest")
            made[name] = test_images.ref(name)
            skopeo_push(test_images.layouts / name, "latest", made[name], test_images.layouts / "home")
        return made[name]
    return make
