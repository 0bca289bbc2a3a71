"""commit, push, pull back, export/import, tag, history, diff, against the suite's registry and
with real clients other than pocketbox (skopeo, podman) reading what pocketbox wrote."""
import json
import os
import subprocess
import tarfile
from pathlib import Path


from conftest import pocketbox_argv, requires_root
from helpers.proxies import Proxy
from helpers.registry import RegistryProcess
from helpers.tokenserver import PASSWORD, USER
from test_pull import _tree

pytestmark = requires_root

CHANGES = ("echo added > /added; echo more >> /etc/passwd; rm /etc/group; rm -rf /usr/sbin; mkdir /usr/sbin; "
           "echo only > /usr/sbin/only; chmod 700 /tmp; ln /added /hard; ln -s /added /soft; "
           "mkfifo /fifo; rm /bin/arch")
PLACEHOLDERS = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}


def inspect(pb, name) -> dict:
    return json.loads(pb("inspect", name).stdout)[0]


def merged(tmp_path: Path, name: str, lowers: str) -> Path:
    mnt = tmp_path / name
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lowers}", str(mnt)], check=True)
    return mnt


def tree_without_placeholders(root: Path) -> dict:
    return {k: v for k, v in _tree(root).items() if k not in PLACEHOLDERS}


def test_commit_is_the_inverse_of_unpack_and_survives_a_round_trip(pb, busybox, test_images, tmp_path):
    pb("run", "--name", "changed", busybox, "sh", "-c", CHANGES)
    diff = pb("diff", "changed").stdout.splitlines()
    for line in ("A /added", "C /etc/passwd", "D /etc/group", "C /usr/sbin", "A /usr/sbin/only", "D /bin/arch",
                 "A /hard", "A /soft", "C /tmp"):
        assert line in diff
    assert not any(p in diff for p in ("A /etc/hostname", "A /etc/hosts", "A /etc/resolv.conf"))
    image_id = pb("commit", "-m", "five changes", "-a", "Ada", "-c", "CMD [\"cat\", \"/added\"]", "-c", "ENV STAGE=2",
                  "changed", "committed:v1").stdout.strip()
    assert image_id.startswith("sha256:")
    info = inspect(pb, "committed:v1")
    assert info["Config"]["Cmd"] == ["cat", "/added"] and "STAGE=2" in info["Config"]["Env"]
    assert len(info["RootFS"]["Layers"]) == 2
    ctr = inspect(pb, "changed")["GraphDriver"]["Data"]
    a = merged(tmp_path, "container", f"{ctr['UpperDir']}:{ctr['LowerDir']}")
    b = merged(tmp_path, "image", info["GraphDriver"]["Data"]["LowerDir"])
    try:
        assert tree_without_placeholders(a) == tree_without_placeholders(b)
        top = Path(info["GraphDriver"]["Data"]["LowerDir"].split(":")[0])
        assert os.getxattr(top / "usr/sbin", "trusted.overlay.opaque") == b"y"   # replaced dir: opaque
        assert os.stat(top / "hard").st_ino == os.stat(top / "added").st_ino      # hardlink kept
    finally:
        subprocess.run(["umount", str(a)])
        subprocess.run(["umount", str(b)])
    assert pb("run", "--rm", "committed:v1").stdout == "added\n"
    history = pb("history", "committed:v1").stdout.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"] and "five changes" in history[1]

    # push to a new repository, remove it here, pull it back, run it
    ref = f"{test_images.host}/team/committed:v1"
    pb("tag", "committed:v1", ref)
    r = pb("push", ref)
    assert f"The push refers to repository [{ref.rsplit(':', 1)[0]}]" in r.stdout
    assert r.stdout.strip().splitlines()[-1].startswith("v1: digest: sha256:")
    skopeo = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True,
                            text=True, env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]})
    assert skopeo.returncode == 0, skopeo.stderr
    assert len(json.loads(skopeo.stdout)["Layers"]) == 2
    pb("rmi", "-f", "committed:v1", ref)
    pb("rm", "changed")
    pb("image", "prune", "-a", "-f")
    assert not pb("images", "-q").stdout.strip()
    pb("pull", ref)
    assert pb("run", "--rm", ref).stdout == "added\n"
    c = merged(tmp_path, "pulled", inspect(pb, ref)["GraphDriver"]["Data"]["LowerDir"])
    try:
        assert "usr/sbin/only" in _tree(c) and "etc/group" not in _tree(c)
    finally:
        subprocess.run(["umount", str(c)])


def test_push_skips_shared_layers_and_podman_runs_the_result(pb, busybox, test_images, tmp_path):
    proxy = Proxy(test_images.host)
    try:
        pb("run", "--name", "one", busybox, "sh", "-c", "echo 1 > /one")
        pb("commit", "one", f"{proxy.host}/shared/one:v1")
        pb("run", "--name", "two", busybox, "sh", "-c", "echo 2 > /two")
        pb("commit", "two", f"{proxy.host}/shared/two:v1")
        pb("push", f"{proxy.host}/shared/one:v1")
        first_uploads = [p for m, p in proxy.requests if m == "PUT" and "/blobs/uploads/" in p]
        assert len(first_uploads) == 3   # busybox base, the new layer, the config
        proxy.requests.clear()
        r = pb("push", f"{proxy.host}/shared/two:v1")
        assert "Mounted from shared/one" in r.stdout or "Layer already exists" in r.stdout
        uploads = [p for m, p in proxy.requests if m == "PUT" and "/blobs/uploads/" in p]
        assert len(uploads) == 2         # the base layer was not uploaded again
    finally:
        proxy.stop()
    ref = f"{test_images.host}/shared/two:v1"
    work = tmp_path / "podman"
    runroot = f"/run/pbtest-{os.getpid()}"
    podman = ["podman", "--root", str(work), "--runroot", runroot, "--cgroup-manager", "cgroupfs",
              "--storage-driver", "overlay"]
    env = {**os.environ, "HOME": str(tmp_path)}
    try:
        subprocess.run(podman + ["pull", "-q", "--tls-verify=false", ref], check=True, env=env, capture_output=True)
        r = subprocess.run(podman + ["run", "--rm", "--runtime", "runc", "--network", "none", "--ulimit",
                                     "nofile=1024:1024", "--ulimit", "nproc=1000:1000", ref, "cat", "/two"],
                           env=env, capture_output=True, text=True)
        assert r.returncode == 0 and r.stdout == "2\n", r.stderr
    finally:
        subprocess.run(podman + ["system", "reset", "-f"], capture_output=True, env=env)
        subprocess.run(["rm", "-rf", runroot])
    pb("rm", "one", "two")


def test_push_errors(pb, busybox, tmp_path, busybox_rootfs):
    pb("tag", busybox, "docker.io/someone/thing:v1")
    r = pb("push", "someone/thing:v1", expect=1)
    assert "log in" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import crypt

        line = f"{USER}:{crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
    (tmp_path / "htpasswd").write_text(line)
    reg = RegistryProcess(tmp_path / "registry", {"auth": {"htpasswd": {"realm": "pb", "path": str(tmp_path / "htpasswd")}}})
    try:
        ref = f"{reg.host}/team/tool:v1"
        pb("tag", busybox, ref)
        r = pb("push", ref, expect=1)
        assert "pocketbox login" in r.stderr
        pb("login", "-u", USER, "-p", PASSWORD, reg.host)
        assert pb("push", ref).stdout.strip().splitlines()[-1].startswith("v1: digest:")
        pb("rmi", ref)
        pb("pull", ref)
    finally:
        reg.stop()
    pb("push", "nosuch:image", expect=1)


def test_export_import_and_tag(pb, busybox, tmp_path):
    pb("run", "--name", "src", busybox, "sh", "-c", "echo exported > /marker; rm /etc/group")
    out = tmp_path / "fs.tar"
    pb("export", "-o", out, "src")
    with tarfile.open(out) as t:
        names = t.getnames()
    assert "marker" in names and "bin/busybox" in names and "etc/group" not in names
    assert not any(n.startswith("./") or n.startswith("/") for n in names)
    image_id = pb("import", out, "imported:v1").stdout.strip()
    assert image_id.startswith("sha256:")
    assert pb("run", "--rm", "imported:v1", "cat", "/marker").stdout == "exported\n"
    assert len(inspect(pb, "imported:v1")["RootFS"]["Layers"]) == 1
    with open(out, "rb") as f:
        r = subprocess.run(pocketbox_argv() + ["import", "-", "fromstdin:v1"], stdin=f, capture_output=True, text=True,
                           env={**os.environ, "POCKETBOX_ROOT": str(pb.root)})
    assert r.returncode == 0 and r.stdout.startswith("sha256:")
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"nope" * 100)
    assert "not a tar archive" in pb("import", bad, "bad:v1", expect=1).stderr
    assert "bad" not in pb("images").stdout
    # tag moves: the old image keeps its other names
    pb("tag", "imported:v1", "moving:latest")
    pb("tag", busybox, "moving:latest")
    assert inspect(pb, "moving:latest")["Id"] == inspect(pb, busybox)["Id"]
    assert "imported" in pb("images").stdout
    pb("rm", "src")


def test_large_layers_are_pushed_in_chunks(pb, busybox, test_images):
    proxy = Proxy(test_images.host)
    try:
        pb("run", "--name", "big", busybox, "sh", "-c", "head -c 12000000 /dev/urandom > /random")
        ref = f"{proxy.host}/chunks/big:v1"
        pb("commit", "big", ref)
        pb("push", ref)
        patches = [p for m, p in proxy.requests if m == "PATCH"]
        assert len(patches) >= 2        # 12 MB of random data in 5 MB chunks
        size = os.path.getsize(pb.root / "blobs/sha256" / inspect(pb, ref)["Layers"][-1]["Digest"][7:])
        pb("rmi", ref)
        pb("pull", ref)
        assert inspect(pb, ref)["Layers"][-1]["CompressedSize"] == size
        assert pb("run", "--rm", ref, "sh", "-c", "wc -c < /random").stdout.strip() == "12000000"
    finally:
        proxy.stop()
    pb("rm", "big")
