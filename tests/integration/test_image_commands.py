"""images, image inspect, rmi, image prune, save and load, as a user types them."""
import json
import os
import subprocess
import tarfile

from conftest import pocketbox_argv, requires_root
import ociimage

pytestmark = requires_root


def test_images_table_and_flags(pb, test_images):
    ref = test_images.ref("busybox")
    pb("pull", ref)
    lines = pb("images").stdout.splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = lines[1].split()
    assert row[0] == f"{test_images.host}/library/busybox" and row[1] == "latest"
    assert len(row[2]) == 12 and row[-1].endswith("MB")
    image_id = json.loads(pb("image", "inspect", ref).stdout)[0]["Id"]
    assert pb("images", "-q").stdout.split() == [image_id[7:19]]
    assert pb("images", "-q", "--no-trunc").stdout.split() == [image_id]
    digests = pb("images", "--digests").stdout.splitlines()
    assert "DIGEST" in digests[0] and test_images.digests["busybox"]["digest"] in digests[1]
    assert pb("image", "ls").stdout == pb("images").stdout
    assert pb("images", "nosuch/repo").stdout.splitlines()[1:] == []


def test_inspect_shows_config_and_where_it_is_stored(pb, test_images):
    ref = test_images.ref("layered")
    pb("pull", ref)
    info = json.loads(pb("image", "inspect", ref).stdout)[0]
    assert info["Config"]["Cmd"] == ["sh"]
    assert info["RootFS"]["Type"] == "layers" and len(info["RootFS"]["Layers"]) == 3
    assert os.path.isfile(info["RecordPath"])
    for d in info["GraphDriver"]["Data"]["LowerDir"].split(":"):
        assert os.path.isdir(d) and d.startswith(str(pb.root))
    r = pb("image", "inspect", "nosuch", expect=1)
    assert "No such image: nosuch:latest" in r.stderr


def test_rmi_untags_then_deletes_and_frees_layers(pb, test_images):
    a, b = test_images.ref("busybox"), test_images.ref("layered")
    pb("pull", a)
    assert ": Already exists" in pb("pull", b).stdout  # layered's first layer is busybox's: same chain ID
    assert len(list((pb.root / "layers").iterdir())) == 3
    r = pb("rmi", b)
    assert f"Untagged: {b}" in r.stdout and "Deleted: sha256:" in r.stdout
    assert len(list((pb.root / "layers").iterdir())) == 1
    pb("rmi", "nosuch", expect=1)
    image_id = json.loads(pb("image", "inspect", a).stdout)[0]["Id"]
    pb("rmi", image_id[7:19])
    assert not list((pb.root / "layers").iterdir())
    assert not list((pb.root / "blobs/sha256").iterdir())


def test_rmi_with_two_names(pb, test_images, tmp_path):
    ref = test_images.ref("busybox")
    pb("pull", ref)
    archive = tmp_path / "bb.tar"
    pb("save", "-o", archive, ref)
    # load it under a second name through a docker-save archive made by skopeo
    subprocess.run(["skopeo", "copy", "-q", f"oci:{test_images.layouts / 'busybox'}:latest",
                    f"docker-archive:{tmp_path / 'second.tar'}:second/name:v1"], check=True,
                   env={"HOME": str(tmp_path), "PATH": os.environ["PATH"]})
    assert pb("load", "-i", tmp_path / "second.tar").stdout.strip() == "Loaded image: second/name:v1"
    ids = set(pb("images", "-q").stdout.split())
    assert len(ids) == 1  # same config, so the same image, now with two names
    r = pb("rmi", ids.pop(), expect=1)
    assert "must be forced" in r.stderr
    assert pb("rmi", "second/name:v1").stdout.strip() == "Untagged: second/name:v1"
    assert len(pb("images", "-q").stdout.split()) == 1


def test_save_load_roundtrip(pb, test_images, tmp_path):
    ref = test_images.ref("layered")
    pb("pull", ref)
    before = json.loads(pb("image", "inspect", ref).stdout)[0]
    archive = tmp_path / "out.tar"
    pb("save", "-o", archive, ref)
    with tarfile.open(archive) as t:
        names = t.getnames()
        assert {"oci-layout", "index.json", "manifest.json"} <= set(names)
        manifest = json.load(t.extractfile("manifest.json"))
    assert manifest[0]["RepoTags"] == [ref] and len(manifest[0]["Layers"]) == 3
    pb("rmi", ref)
    assert pb("load", "-i", archive).stdout.strip() == f"Loaded image: {ref}"
    after = json.loads(pb("image", "inspect", ref).stdout)[0]
    assert after["Id"] == before["Id"] and after["RootFS"] == before["RootFS"]
    # umoci (an OCI tool) reads our archive as an OCI layout
    layout = tmp_path / "layout"
    layout.mkdir()
    subprocess.run(["tar", "-xf", str(archive), "-C", str(layout)], check=True)
    r = subprocess.run(["umoci", "ls", "--layout", str(layout)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # `save` to a pipe and `load` from one
    env = {**os.environ, "POCKETBOX_ROOT": str(pb.root)}
    raw = subprocess.run(pocketbox_argv() + ["save", ref], capture_output=True, env=env, check=True).stdout
    pb("rmi", ref)
    r = subprocess.run(pocketbox_argv() + ["load"], input=raw, capture_output=True, env=env)
    assert r.returncode == 0 and r.stdout.decode().strip() == f"Loaded image: {ref}"


def test_load_oci_layout_and_bad_archives(pb, test_images, tmp_path):
    archive = tmp_path / "oci.tar"
    with tarfile.open(archive, "w") as t:
        t.add(test_images.layouts / "zstd", arcname=".")
    r = pb("load", "-i", archive)
    assert r.stdout.startswith("Loaded image ID: sha256:")  # ref.name "latest" names no repository
    assert pb("images").stdout.splitlines()[1].split()[:2] == ["<none>", "<none>"]
    bad = tmp_path / "bad.tar"
    bad.write_bytes(b"not a tar at all" * 100)
    r = pb("load", "-i", bad, expect=1)
    assert "cannot read the archive" in r.stderr
    empty = tmp_path / "empty.tar"
    with tarfile.open(empty, "w") as t:
        t.add(__file__, arcname="readme")
    r = pb("load", "-i", empty, expect=1)
    assert "neither" in r.stderr
    r = pb("load", "-i", tmp_path / "missing.tar", expect=1)
    assert "no such file" in r.stderr


def test_docker_archive_from_the_recipe(pb, busybox_rootfs, tmp_path):
    """The offline demo path: build busybox from rootfs/, write a docker-save archive, load it."""
    layout = ociimage.Layout(tmp_path / "layout")
    desc = layout.image([ociimage.tar_dir(busybox_rootfs)])
    layout.tag(desc, "latest")
    ociimage.docker_archive(layout, desc, "busybox:latest", tmp_path / "busybox.tar")
    assert pb("load", "-i", tmp_path / "busybox.tar").stdout.strip() == "Loaded image: busybox:latest"
    info = json.loads(pb("image", "inspect", "busybox").stdout)[0]
    assert info["RepoTags"] == ["busybox:latest"]


def test_prune(pb, test_images):
    pb("pull", test_images.ref("busybox"))
    r = pb("image", "prune", input="n\n")
    assert "WARNING! This will remove all dangling images." in r.stdout
    assert pb("images", "-q").stdout.strip()
    r = pb("image", "prune", "-f")
    assert "Total reclaimed space: 0B" in r.stdout
    r = pb("image", "prune", "-a", "-f")
    assert "Deleted Images:" in r.stdout and "deleted: sha256:" in r.stdout
    assert not pb("images", "-q").stdout.strip()
    assert not list((pb.root / "layers").iterdir())


def test_rmi_refuses_an_image_a_container_uses(pb, busybox):
    pb("run", "--name", "user", busybox, "true")
    r = pb("rmi", busybox, expect=1)
    assert "container" in r.stderr and "is using its referenced image" in r.stderr
    pb("rmi", "-f", busybox)
    assert pb("images", "-q").stdout.strip() == ""
    layers = list((pb.root / "layers").iterdir())
    assert layers, "the container still needs its image's layers"
    pb("rm", "user")
    pb("image", "prune", "-f")
    assert not list((pb.root / "layers").iterdir())
