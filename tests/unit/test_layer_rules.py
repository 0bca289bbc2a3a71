"""Pure rules of layer unpacking and the image store (no root needed)."""
import hashlib

import pytest

from pocketbox.errors import DigestMismatch, LayerError
from pocketbox.image.store import chain_ids, hex_of
from pocketbox.image.unpack import clean_name, whiteout_target


@pytest.mark.parametrize("name, parts", [
    ("etc/passwd", ["etc", "passwd"]),
    ("./etc//passwd", ["etc", "passwd"]),
    ("/abs/file", ["abs", "file"]),
    ("./", []),
    ("dir/./x", ["dir", "x"]),
])
def test_clean_name(name, parts):
    assert clean_name(name) == parts


@pytest.mark.parametrize("name", ["../x", "a/../../b", "a/..", "x\0y"])
def test_clean_name_refuses_escapes(name):
    with pytest.raises(LayerError):
        clean_name(name)


def test_whiteouts():
    assert whiteout_target(".wh.passwd") == "passwd"
    assert whiteout_target(".wh..wh..opq") is None
    assert whiteout_target("passwd") is None
    assert whiteout_target("x.wh.y") is None
    for bad in (".wh.", ".wh..", ".wh..wh.x"):
        with pytest.raises(LayerError):
            whiteout_target(bad)


def test_chain_ids_follow_the_image_spec():
    a, b, c = ("sha256:" + h * 64 for h in "abc")
    ab = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = "sha256:" + hashlib.sha256(f"{ab} {c}".encode()).hexdigest()
    assert chain_ids([a, b, c]) == [a, ab, abc]
    assert chain_ids([]) == []


def test_digests_are_validated_before_they_become_paths():
    assert hex_of("sha256:" + "0" * 64) == "0" * 64
    for bad in ("sha256:../../etc", "sha512:" + "0" * 128, "sha256:" + "0" * 63, "sha256:" + "G" * 64):
        with pytest.raises(DigestMismatch):
            hex_of(bad)


def test_a_copied_up_directory_alone_is_no_change(tmp_path):
    """write_layer: a directory the image has with the same mode and owners goes in only with
    something below it; a placeholder the runtime mounted on is not something."""
    import io
    import os
    import tarfile

    from pocketbox.image.changes import write_layer

    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in (lower / "etc", lower / "srv", upper / "etc", upper / "srv", upper / "new", lower / "var",
              upper / "var" / "lib"):
        d.mkdir(parents=True)
    (lower / "etc" / "hosts").write_text("")
    (upper / "etc" / "hostname").write_text("")        # a placeholder to mount on
    (upper / "srv" / "added").write_text("x")
    os.chmod(upper / "var", 0o700)                       # another mode than the image's

    def names(mountpoints):
        out = io.BytesIO()
        count = write_layer(str(upper), out, mountpoints, [str(lower)])
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as t:
            got = [m.name for m in t.getmembers()]
        assert count == len(got)
        return sorted(got)
    assert names({"etc/hostname"}) == ["new", "srv", "srv/added", "var", "var/lib"]
    assert names(set()) == ["etc", "etc/hostname", "new", "srv", "srv/added", "var", "var/lib"]
